import { readFileSync } from 'node:fs';
import { runMain } from '@sluice/runtime';
import { connectNats } from '@sluice/nats';
import { readTrustFile } from '@sluice/auth';
import { createRegistry, type Registry } from './registry.ts';
import { parseRegistryConfig } from './config.ts';

// REGISTRY_TRUST_FILE (operator and account keys, JSON from @sluice/auth) and NATS_SYSTEM_CREDS
// (a system-account .creds file) turn on per-agent NATS credentials and their revocation.
await runMain('registry', async ({ nc, logger, metrics, env }) => {
  const path = env.REGISTRY_CONFIG;
  const text = env.REGISTRY_CONFIG_JSON ?? (path ? readFileSync(path, 'utf8') : undefined);
  if (!text) throw new Error('set REGISTRY_CONFIG (a YAML file) or REGISTRY_CONFIG_JSON');
  const config = parseRegistryConfig(text, path ?? 'REGISTRY_CONFIG_JSON');
  if (env.REGISTRY_TRUST_FILE || env.NATS_SYSTEM_CREDS) {
    if (!env.REGISTRY_TRUST_FILE || !env.NATS_SYSTEM_CREDS) throw new Error('per-agent NATS credentials need both REGISTRY_TRUST_FILE and NATS_SYSTEM_CREDS');
    const trust = await readTrustFile(env.REGISTRY_TRUST_FILE);
    const sysNc = await connectNats({ servers: (env.NATS_URL ?? 'nats://127.0.0.1:4222').split(','), name: 'sluice-registry-system', credsFile: env.NATS_SYSTEM_CREDS }, logger);
    const registry = createRegistry(config, { nc, logger, metrics, natsAuth: { trust, sysNc } });
    const stopRegistry = registry.stop;
    // the system-account connection is this file's: it closes after the registry
    return Object.assign(registry, {
      async stop() {
        await stopRegistry();
        await sysNc.drain();
      },
    });
  }
  return createRegistry(config, { nc, logger, metrics });
}, (r) => {
  const reg = r as Registry;
  // the bootstrap token is on this line only: stored hashed, never logged, never shown again
  return { ...(reg.apiPort !== undefined ? { apiPort: reg.apiPort } : {}), ...(reg.bootstrapToken ? { bootstrapToken: reg.bootstrapToken } : {}) };
});
