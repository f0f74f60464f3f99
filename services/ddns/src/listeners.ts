import cluster from 'node:cluster';
import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Reply, Responder } from './responder.ts';
import { truncatedCopy } from './responder.ts';
import type { ResponseRateLimiter } from './rate-limit.ts';

export interface ListenerSettings {
  host: string;
  /** 0: a port free for both UDP and TCP. */
  port: number;
  tcpIdleMs: number;
  tcpMaxConnections: number;
  /** Queries a TCP client may have in flight (pipelined) before we stop reading from it. */
  tcpMaxPipelined: number;
}

export interface ListenerEvents {
  answered(transport: 'udp' | 'tcp', rcode: number): void;
  dropped(reason: 'malformed' | 'rate_limited' | 'tcp_limit' | 'send_failed'): void;
  slipped(): void;
}

export interface Listeners {
  readonly port: number;
  close(): Promise<void>;
}

const isPromise = (r: unknown): r is Promise<Reply> => typeof (r as Promise<Reply> | null)?.then === 'function';

/**
 * `onMessage` is attached before binding: a bound socket reads at once, and datagrams that arrive
 * with no listener are dropped (in a cluster the socket is shared, so they are other workers' too).
 */
function bindUdp(host: string, port: number, onMessage: (msg: Buffer, rinfo: RemoteInfo, socket: UdpSocket) => void, onError: (err: Error) => void): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: 4 * 1024 * 1024, sendBufferSize: 4 * 1024 * 1024 });
    s.on('message', (m, r) => onMessage(m, r, s));
    s.once('error', reject);
    // in a cluster worker the bound socket is shared with the other workers (workers.ts)
    s.bind({ address: host, port, exclusive: !cluster.isWorker }, () => {
      s.off('error', reject);
      s.on('error', onError);
      resolve(s);
    });
  });
}

function listenTcp(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: !cluster.isWorker }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * UDP and TCP on one port. UDP: one datagram, one answer (or none), rate limited per source. TCP
 * (RFC 7766): 2-byte length-prefixed messages reassembled across segments, answered in order,
 * pipelining bounded, idle connections closed.
 */
export async function startListeners(settings: ListenerSettings, responder: Responder, limiter: ResponseRateLimiter | undefined, events: ListenerEvents, logger: Logger): Promise<Listeners> {
  let udp: UdpSocket | undefined;
  const tcp = createServer({ allowHalfOpen: false, noDelay: true, pauseOnConnect: false });
  tcp.maxConnections = settings.tcpMaxConnections;
  let lastError: unknown;
  const onMessage = (msg: Buffer, rinfo: RemoteInfo, socket: UdpSocket): void => {
    const r = responder.handle(msg, 'udp');
    if (isPromise(r)) {
      r.then(
        (reply) => deliverUdp(reply, rinfo, socket),
        (err: unknown) => logger.error({ err }, 'update failed'),
      );
    } else deliverUdp(r, rinfo, socket);
  };
  // no callback per send: a failed send surfaces as the socket's 'error' event
  const send = (socket: UdpSocket, message: Buffer, rinfo: RemoteInfo): void => socket.send(message, rinfo.port, rinfo.address);
  const onUdpError = (err: Error): void => {
    events.dropped('send_failed');
    logger.warn({ err: err.message }, 'udp socket error');
  };
  const deliverUdp = (reply: Reply | null, rinfo: RemoteInfo, socket: UdpSocket): void => {
    if (!reply) {
      events.dropped('malformed');
      return;
    }
    if (limiter) {
      const d = limiter.decide(rinfo.address);
      if (d === 'drop') {
        events.dropped('rate_limited');
        return;
      }
      if (d === 'slip') {
        events.slipped();
        send(socket, truncatedCopy(reply.message), rinfo);
        return;
      }
    }
    events.answered('udp', reply.rcode);
    send(socket, reply.message, rinfo);
  };
  for (let attempt = 0; attempt < 20 && !udp; attempt++) {
    const u = await bindUdp(settings.host, settings.port, onMessage, onUdpError).catch((err: unknown) => {
      lastError = err;
      return undefined;
    });
    if (!u) {
      if (settings.port !== 0) break;
      continue;
    }
    const port = u.address().port;
    try {
      await listenTcp(tcp, settings.host, port);
      udp = u;
    } catch (err) {
      lastError = err;
      u.close();
      if (settings.port !== 0) break;
    }
  }
  if (!udp) throw new Error(`could not listen on ${settings.host}:${settings.port} (UDP and TCP)`, { cause: lastError });
  const port = udp.address().port;
  const u = udp;

  const sockets = new Set<Socket>();
  tcp.on('drop', () => events.dropped('tcp_limit'));
  tcp.on('connection', (sock) => {
    sockets.add(sock);
    sock.setTimeout(settings.tcpIdleMs, () => sock.destroy());
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let pending: Buffer = Buffer.alloc(0);
    let inFlight = 0;
    let awaitingDrain = false;
    // read on only while answers are not piling up: updates in flight, or a client that does not read
    const maybeResume = (): void => {
      if (inFlight < settings.tcpMaxPipelined && !awaitingDrain) sock.resume();
    };
    // answers go out in the order their queries came, whatever order they finish in
    let tail: Promise<void> = Promise.resolve();
    const write = (reply: Reply | null): void => {
      if (sock.destroyed) return;
      if (!reply) {
        // a frame that is not a DNS request: this connection is not speaking DNS
        events.dropped('malformed');
        sock.destroy();
        return;
      }
      events.answered('tcp', reply.rcode);
      const frame = Buffer.allocUnsafe(2 + reply.message.length);
      frame.writeUInt16BE(reply.message.length, 0);
      reply.message.copy(frame, 2);
      if (!sock.write(frame) && !awaitingDrain) {
        awaitingDrain = true;
        sock.pause();
        sock.once('drain', () => {
          awaitingDrain = false;
          maybeResume();
        });
      }
    };
    sock.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (len === 0) {
          sock.destroy();
          return;
        }
        if (pending.length < 2 + len) break;
        const frame = Buffer.from(pending.subarray(2, 2 + len));
        pending = pending.subarray(2 + len);
        const r = responder.handle(frame, 'tcp');
        if (isPromise(r)) {
          inFlight++;
          const settled = r.then(
            (reply) => reply,
            (err: unknown) => {
              logger.error({ err }, 'update failed');
              return null;
            },
          );
          tail = tail.then(async () => {
            write(await settled);
            inFlight--;
            maybeResume();
          });
          if (inFlight >= settings.tcpMaxPipelined) sock.pause();
        } else if (inFlight > 0) {
          tail = tail.then(() => write(r));
        } else write(r);
      }
      if (pending.length > 0) pending = Buffer.from(pending);
    });
  });
  tcp.on('error', (err) => logger.error({ err }, 'tcp server error'));

  return {
    port,
    async close() {
      await new Promise<void>((r) => u.close(() => r()));
      await new Promise<void>((r) => {
        tcp.close(() => r());
        for (const s of sockets) s.destroy();
      });
    },
  };
}
