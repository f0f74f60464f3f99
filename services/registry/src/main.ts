import { readFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import { runMain } from '@sluice/runtime';
import { connectNats } from '@sluice/nats';
import { trustFromJson } from '@sluice/auth';
import { createRegistry, type Registry } from './registry.ts';
import { parseRegistryConfig } from './config.ts';

// REGISTRY_TRUST_FILE (operator and account keys, JSON from @sluice/auth) and NATS_SYSTEM_CREDS
// (a system-account .creds file) turn on per-agent NATS credentials and their revocation.
await runMain('registry', async ({ nc, logger, metrics, env }) => {
  const path = env.REGISTRY_CONFIG;
  const text = env.REGISTRY_CONFIG_JSON ?? (path ? readFileSync(path, 'utf8') : undefined);
  if (!text) throw new Error('set REGISTRY_CONFIG (a YAML file) or REGISTRY_CONFIG_JSON');
  const config = parseRegistryConfig(text, path ?? 'REGISTRY_CONFIG_JSON');
  let sysNc: NatsConnection | undefined;
  if (env.REGISTRY_TRUST_FILE || env.NATS_SYSTEM_CREDS) {
    if (!env.REGISTRY_TRUST_FILE || !env.NATS_SYSTEM_CREDS) throw new Error('per-agent NATS credentials need both REGISTRY_TRUST_FILE and NATS_SYSTEM_CREDS');
    const trust = trustFromJson(readFileSync(env.REGISTRY_TRUST_FILE, 'utf8'));
    sysNc = await connectNats({ servers: (env.NATS_URL ?? 'nats://127.0.0.1:4222').split(','), name: 'sluice-registry-system', credsFile: env.NATS_SYSTEM_CREDS }, logger);
    const registry = createRegistry(config, { nc, logger, metrics, natsAuth: { trust, sysNc } });
    return {
      get ready() {
        return true;
      },
      get apiPort() {
        return registry.apiPort;
      },
      get bootstrapToken() {
        return registry.bootstrapToken;
      },
      start: () => registry.start(),
      async stop() {
        await registry.stop();
        await sysNc?.drain();
      },
    };
  }
  return createRegistry(config, { nc, logger, metrics });
}, (r) => {
  const reg = r as unknown as Pick<Registry, 'apiPort' | 'bootstrapToken'>;
  // the bootstrap token is on this line only: stored hashed, never logged, never shown again
  return { ...(reg.apiPort !== undefined ? { apiPort: reg.apiPort } : {}), ...(reg.bootstrapToken ? { bootstrapToken: reg.bootstrapToken } : {}) };
});
