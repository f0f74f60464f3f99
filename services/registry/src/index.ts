export { createRegistry, covers, HostnameNotOwnedError, type Registry, type RegistryDeps } from './registry.ts';
export { parseRegistryConfig, RegistryConfigSchema, type RegistryConfig } from './config.ts';
