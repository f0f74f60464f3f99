export { runMain, intEnv, type Service, type MainContext } from './run-main.ts';
export { startTracing, tracingRequested, SynchronousContextManager, type Tracing } from './tracing.ts';
