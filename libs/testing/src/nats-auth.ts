import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import {
  accountJwtWithRevocations,
  createTrust,
  issueAgentCreds,
  issueServiceCreds,
  issueSystemCreds,
  natsServerAuthConfig,
  pushAccountJwt,
  writeTrustFile,
  type IssuedCreds,
  type Trust,
} from '@sluice/auth';
import { startNats, type NatsServerHandle, type StartNatsOptions } from './nats-server.ts';

export interface StartAuthNatsOptions extends Pick<StartNatsOptions, 'port' | 'storeDir'> {
  /** The trust to run under (one per test by default). */
  trust?: Trust;
  /** More nats-server configuration, appended after the operator-mode block. */
  extraConfig?: string;
}

/** A credentials file written for a test (mode 0600, removed by `stop()`). */
export interface CredsFile extends IssuedCreds {
  path: string;
}

/**
 * A nats-server in operator mode (NATS decentralized auth) and what a test needs around it: the
 * trust, credentials as text or files, plain clients, and revocation.
 */
export interface AuthNats {
  readonly nats: NatsServerHandle;
  readonly trust: Trust;
  /** Unrestricted SLUICE-account credentials, as the gateway services get them. */
  serviceCreds(name: string): Promise<string>;
  serviceCredsFile(name: string): Promise<string>;
  /** System-account credentials (account updates). */
  systemCreds(): Promise<string>;
  systemCredsFile(): Promise<string>;
  /** The trust as a file (mode 0600), for a registry that issues and revokes agent credentials. */
  trustFile(): Promise<string>;
  /** New credentials for one agent, restricted to `agentPermissions(agentId)`. */
  agentCreds(agentId: string): Promise<IssuedCreds>;
  agentCredsFile(agentId: string): Promise<CredsFile>;
  /**
   * A test client on these credentials that does not reconnect (a refusal shows at once).
   * Rejects as `connect` does, e.g. with an AuthorizationError for revoked credentials.
   */
  connect(creds: string, opts?: { inboxPrefix?: string; name?: string }): Promise<NatsConnection>;
  /** Revokes these user keys now (added to every earlier revocation) and pushes the account JWT. */
  revoke(...userPublicKeys: string[]): Promise<void>;
  /** Stops the server and removes the resolver dir and every credentials file. */
  stop(): Promise<void>;
}

/** Starts the local nats-server binary in operator mode with a `full` account resolver. */
export async function startAuthNats(opts: StartAuthNatsOptions = {}): Promise<AuthNats> {
  const trust = opts.trust ?? (await createTrust());
  const dir = await mkdtemp(join(tmpdir(), `sluice-nats-auth-${process.pid}-`));
  const resolverDir = join(dir, 'jwt');
  let nats: NatsServerHandle;
  try {
    nats = await startNats({
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      ...(opts.storeDir !== undefined ? { storeDir: opts.storeDir } : {}),
      // the resolver dir is a path on this machine: a container would not see it
      local: true,
      extraConfig: [natsServerAuthConfig(trust, { resolverDir }), opts.extraConfig ?? ''].join('\n'),
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const revoked: Record<string, number> = {};
  let files = 0;
  const writeCreds = async (name: string, creds: string): Promise<string> => {
    const path = join(dir, `${String(++files).padStart(3, '0')}-${name}.creds`);
    await writeFile(path, creds, { mode: 0o600 });
    await chmod(path, 0o600);
    return path;
  };
  const client = (creds: string, o: { inboxPrefix?: string; name?: string } = {}): Promise<NatsConnection> =>
    connect({
      servers: nats.url,
      authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
      maxReconnectAttempts: 0,
      ...(o.inboxPrefix ? { inboxPrefix: o.inboxPrefix } : {}),
      ...(o.name ? { name: o.name } : {}),
    });

  return {
    nats,
    trust,
    serviceCreds: (name) => issueServiceCreds(trust, name),
    async serviceCredsFile(name) {
      return writeCreds(name, await issueServiceCreds(trust, name));
    },
    systemCreds: () => issueSystemCreds(trust),
    async systemCredsFile() {
      return writeCreds('system', await issueSystemCreds(trust));
    },
    async trustFile() {
      const path = join(dir, 'trust.json');
      await writeTrustFile(path, trust);
      return path;
    },
    agentCreds: (agentId) => issueAgentCreds(trust, agentId),
    async agentCredsFile(agentId) {
      const issued = await issueAgentCreds(trust, agentId);
      return { ...issued, path: await writeCreds(`agent-${agentId}`, issued.creds) };
    },
    connect: client,
    async revoke(...keys) {
      const now = Math.floor(Date.now() / 1000);
      for (const k of keys) revoked[k] = now;
      const sys = await client(await issueSystemCreds(trust), { name: 'test-revoke' });
      try {
        await pushAccountJwt(sys, await accountJwtWithRevocations(trust, revoked));
      } finally {
        await sys.close();
      }
    },
    async stop() {
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
