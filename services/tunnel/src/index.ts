export { createTunnel, type Tunnel, type TunnelDeps } from './tunnel.ts';
export { tunnelConfigFromEnv, TunnelConfigSchema, type TunnelConfig } from './config.ts';
export { createReporter, type Reporter, type ReporterConfig } from './reporter.ts';
