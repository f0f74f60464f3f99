import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';

export interface NatsConnectOptions {
  servers: string | string[];
  name: string;
  token?: string;
  user?: string;
  pass?: string;
  /** NATS user credentials (the `.creds` text: user JWT and nkey seed), for operator-mode servers. */
  creds?: string;
  /** A `.creds` file, read on every (re)connect so a rotated file is picked up. */
  credsFile?: string;
  /** Reply subjects start with this instead of `_INBOX` (an agent's permissions allow only its own). */
  inboxPrefix?: string;
  /** ms between reconnect attempts; kept short so a restarted server is found within seconds. */
  reconnectTimeWait?: number;
}

/**
 * A long-lived client (style §10): reconnects forever, waits for the first server, logs every
 * status change. Callers subscribe to `onReconnect` to re-create what a server restart lost.
 */
export async function connectNats(opts: NatsConnectOptions, logger: Logger): Promise<NatsConnection> {
  const nc = await connect({
    servers: opts.servers,
    name: opts.name,
    ...(opts.token ? { token: opts.token } : {}),
    ...(opts.user ? { user: opts.user, pass: opts.pass } : {}),
    ...credsOption(opts),
    ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    reconnectTimeWait: opts.reconnectTimeWait ?? 250,
    reconnectJitter: 100,
    // A server that dies with its machine sends no FIN: only unanswered PINGs tell. Two missed
    // at 2 s intervals notice it in 4-6 s, within the 4-9 s the cluster takes to elect new
    // stream and consumer leaders, so the client is on a live server by then (at 5 s x 2 it was
    // 10-15 s, longer than the whole fail-over may take).
    pingInterval: 2_000,
    maxPingOut: 2,
  });
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'ping') continue;
      // errors (permission violations, refused credentials) carry the server's words: log them
      logger.info({ nats: s.type, server: 'server' in s ? s.server : undefined, ...(s.type === 'error' ? { err: s.error.message } : {}) }, 'nats status');
    }
  })();
  return nc;
}

function credsOption(opts: NatsConnectOptions): { authenticator?: ReturnType<typeof credsAuthenticator> } {
  const { creds, credsFile } = opts;
  if (creds !== undefined) return { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) };
  if (credsFile !== undefined) {
    readFileSync(credsFile); // fail now, with the path in the error, rather than inside the client
    return { authenticator: credsAuthenticator(() => readFileSync(credsFile)) };
  }
  return {};
}

/** Calls `fn` every time the client reconnects, until the connection closes. */
export function onReconnect(nc: NatsConnection, fn: () => void): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'reconnect') fn();
    }
  })();
}

/** Calls `fn` when the client loses its server (before any reconnect). */
export function onDisconnect(nc: NatsConnection, fn: () => void): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') fn();
    }
  })();
}
