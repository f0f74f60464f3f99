export { runMain, intEnv, type Service, type MainContext, type RunMainOptions } from './run-main.ts';
export { startTracing, tracingRequested, SynchronousContextManager, type Tracing } from './tracing.ts';
export { installJsonErrors, type KnownApiError, type JsonErrorOptions } from './api-errors.ts';
