import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';

export interface NatsConnectOptions {
  servers: string | string[];
  name: string;
  token?: string;
  user?: string;
  pass?: string;
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
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    reconnectTimeWait: opts.reconnectTimeWait ?? 250,
    reconnectJitter: 100,
    pingInterval: 5_000,
    maxPingOut: 2,
  });
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'ping') continue;
      logger.info({ nats: s.type, server: 'server' in s ? s.server : undefined }, 'nats status');
    }
  })();
  return nc;
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
