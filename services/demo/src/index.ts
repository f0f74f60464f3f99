export { createDemoUpstream } from './upstream.ts';
export type { DemoUpstream, DemoUpstreamAddress, DemoUpstreamConfig, DemoUpstreamDeps } from './upstream.ts';
export { demoCertPaths } from './certs.ts';
export type { DemoCertPaths } from './certs.ts';
export { DemoError } from './errors.ts';
export type { DemoErrorCode } from './errors.ts';
