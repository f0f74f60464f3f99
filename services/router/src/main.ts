import { runMain, intEnv } from '@sluice/runtime';
import { createRouter } from './router.ts';

await runMain('router', ({ nc, logger, metrics, tracer, env }) =>
  createRouter({ heartbeatTimeoutMs: intEnv(env, 'ROUTER_HEARTBEAT_TIMEOUT_MS', 1200) }, { nc, logger, metrics, tracer }),
);
