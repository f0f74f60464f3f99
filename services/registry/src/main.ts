import { readFileSync } from 'node:fs';
import { runMain } from '@sluice/runtime';
import { createRegistry, type Registry } from './registry.ts';
import { parseRegistryConfig } from './config.ts';

await runMain('registry', ({ nc, logger, metrics, env }) => {
  const path = env.REGISTRY_CONFIG;
  const text = env.REGISTRY_CONFIG_JSON ?? (path ? readFileSync(path, 'utf8') : undefined);
  if (!text) throw new Error('set REGISTRY_CONFIG (a YAML file) or REGISTRY_CONFIG_JSON');
  return createRegistry(parseRegistryConfig(text, path ?? 'REGISTRY_CONFIG_JSON'), { nc, logger, metrics });
}, (r) => {
  const reg = r as Registry;
  // the bootstrap token is on this line only: stored hashed, never logged, never shown again
  return { ...(reg.apiPort !== undefined ? { apiPort: reg.apiPort } : {}), ...(reg.bootstrapToken ? { bootstrapToken: reg.bootstrapToken } : {}) };
});
