import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { intEnv, runMain } from '@sluice/runtime';
import { createDdns, type Ddns } from './ddns.ts';
import { parseDdnsConfig } from './config.ts';
import { runWorkers } from './workers.ts';

// DDNS_WORKERS > 1: that many processes share the port (see workers.ts)
const workers = intEnv(process.env, 'DDNS_WORKERS', 1);
if (workers > 1 && cluster.isPrimary) {
  await runWorkers(workers);
} else {
  await runMain(
    'ddns',
    ({ nc, logger, metrics, env }) => {
      const path = env.DDNS_CONFIG;
      const text = env.DDNS_CONFIG_JSON ?? (path ? readFileSync(path, 'utf8') : undefined);
      if (!text) throw new Error('set DDNS_CONFIG (a YAML file) or DDNS_CONFIG_JSON');
      return createDdns(parseDdnsConfig(text, path ?? 'DDNS_CONFIG_JSON'), { nc, logger, metrics });
    },
    (s) => ({ dns: (s as Ddns).address() }),
  );
}
