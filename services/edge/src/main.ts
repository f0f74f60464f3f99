import { runMain, intEnv } from '@sluice/runtime';
import { createEdge, type Edge } from './edge.ts';

await runMain(
  'edge',
  ({ nc, controlNc, logger, metrics, tracer, env }) =>
    createEdge(
      {
        ...(env.EDGE_ID ? { edgeId: env.EDGE_ID } : {}),
        host: env.EDGE_HOST ?? '127.0.0.1',
        httpPort: intEnv(env, 'EDGE_HTTP_PORT', 8080),
        tlsPort: intEnv(env, 'EDGE_TLS_PORT', 8443),
        graceMs: intEnv(env, 'EDGE_GRACE_MS', 10_000),
        maxConnsPerClient: intEnv(env, 'EDGE_MAX_CONNS_PER_CLIENT', 1_000),
        headTimeoutMs: intEnv(env, 'EDGE_HEAD_TIMEOUT_MS', 10_000),
        resumeGraceMs: intEnv(env, 'EDGE_RESUME_GRACE_MS', 5_000),
      },
      { nc, controlNc, logger, metrics, tracer },
    ),
  (s) => ({ ...(s as Edge).address(), edgeId: (s as Edge).edgeId }),
);
