import type { Trust } from './trust.ts';

export interface ServerAuthConfigOptions {
  /** Where the server keeps account JWTs (pushed updates survive a restart); as the server sees it. */
  resolverDir: string;
}

/**
 * nats-server configuration text for operator mode: trusts `trust.operator`, preloads the system
 * and SLUICE accounts, and keeps pushed account updates in a `full` resolver directory.
 * Preloads are the JWTs signed at `createTrust`, never fresh ones: on start the server keeps the
 * newer of the preload and the stored JWT, so a fresh preload would undo every pushed revocation.
 */
export function natsServerAuthConfig(trust: Trust, opts: ServerAuthConfigOptions): string {
  const q = (s: string) => JSON.stringify(s);
  return [
    `operator: ${q(trust.operator.jwt)}`,
    `system_account: ${q(trust.system.publicKey)}`,
    'resolver: {',
    '  type: full',
    `  dir: ${q(opts.resolverDir)}`,
    '  allow_delete: false',
    '}',
    'resolver_preload: {',
    `  ${q(trust.system.publicKey)}: ${q(trust.system.jwt)}`,
    `  ${q(trust.account.publicKey)}: ${q(trust.account.jwt)}`,
    '}',
    '',
  ].join('\n');
}
