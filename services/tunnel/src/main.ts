import { runMain } from '@sluice/runtime';
import { tunnelConfigFromEnv } from './config.ts';
import { createTunnel, type Tunnel } from './tunnel.ts';

// everything comes from the pod spec the operator wrote (TUNNEL_*, POD_NAME, NATS_URL, NATS_CREDS)
const config = tunnelConfigFromEnv(process.env);

await runMain(
  'tunnel',
  ({ nc, controlNc, logger, metrics, tracer }) => createTunnel(config, { nc, controlNc, logger, metrics, tracer }),
  (s) => ({ port: (s as Tunnel).port(), edgeId: (s as Tunnel).edgeId, tunnelId: config.tunnelId }),
);
