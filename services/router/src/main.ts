import { runMain, intEnv } from '@sluice/runtime';
import { InvalidConfigError } from '@sluice/contracts';
import { createRouter } from './router.ts';

await runMain('router', ({ nc, logger, metrics, tracer, env }) => {
  // 0 (the default): the gateway's choice, three on a cluster
  const dataReplicas = intEnv(env, 'ROUTER_DATA_REPLICAS', 0);
  if (dataReplicas < 0 || dataReplicas > 5) throw new InvalidConfigError(`ROUTER_DATA_REPLICAS must be 0 (the default) or 1..5, got ${dataReplicas}`);
  return createRouter(
    { heartbeatTimeoutMs: intEnv(env, 'ROUTER_HEARTBEAT_TIMEOUT_MS', 1200), ...(dataReplicas > 0 ? { dataReplicas } : {}) },
    { nc, logger, metrics, tracer },
  );
});
