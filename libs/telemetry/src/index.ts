export { traceHeaders, contextFrom } from './trace-headers.ts';
export { withTraceContext } from './http-trace-context.ts';
export { createLogger, type Logger } from './logger.ts';
export { createOpsServer, type OpsServer } from './ops-server.ts';
