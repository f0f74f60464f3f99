import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { pino, type Logger } from 'pino';
import { demoCertPaths } from './certs.ts';
import { ConnectionTracker } from './connection-tracker.ts';
import { DemoError } from './errors.ts';
import { createDemoRoutes, type DemoRequest, type DemoResponse } from './routes.ts';
import { createWsEcho, type WsEcho } from './ws-echo.ts';

export interface DemoUpstreamConfig {
  /** Interface to bind both ports on (default 127.0.0.1). */
  host?: string;
  /** Plain HTTP/1.1 (+ WebSocket) port; 0 (default) lets the OS pick. */
  httpPort?: number;
  /** TLS port serving h2 and HTTP/1.1 (+ WebSocket) by ALPN; 0 (default) lets the OS pick. */
  httpsPort?: number;
  /** Directory holding leaf.pem and leaf-key.pem (default: the committed demo certs). */
  certDir?: string;
  /** How long stop() lets in-flight responses finish before cutting them (default 5000 ms). */
  shutdownGraceMs?: number;
}

export interface DemoUpstreamDeps {
  logger?: Logger;
}

export interface DemoUpstreamAddress {
  http: number;
  https: number;
}

export interface DemoUpstream {
  start(): Promise<void>;
  /** Stop accepting, end SSE and WebSocket streams, let other responses finish within the grace, cut the rest. */
  stop(): Promise<void>;
  address(): DemoUpstreamAddress;
}

interface Running {
  http: Server;
  https: Http2SecureServer;
  tracker: ConnectionTracker;
  ws: WsEcho;
  liveStreams: Set<() => void>;
  address: DemoUpstreamAddress;
}

const H2_WINDOW_BYTES = 8 * 1024 * 1024;

function listen(server: Server | Http2SecureServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server | Http2SecureServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function graceElapsed(ms: number): { elapsed: Promise<false>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return { elapsed, cancel: () => clearTimeout(timer) };
}

function rejectUpgrade(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
}

/**
 * The upstream behind the demo tunnel: one route table served on a plain HTTP/1.1 port and on a TLS
 * port that speaks h2 or HTTP/1.1 by ALPN, plus a WebSocket echo at /ws.
 */
export function createDemoUpstream(config: DemoUpstreamConfig = {}, deps: DemoUpstreamDeps = {}): DemoUpstream {
  const logger = deps.logger ?? pino({ level: 'silent' });
  const host = config.host ?? '127.0.0.1';
  const certDir = config.certDir ?? dirname(demoCertPaths.leaf);
  const graceMs = config.shutdownGraceMs ?? 5_000;
  let running: Running | undefined;
  let starting = false;

  const start = async (): Promise<void> => {
    if (running !== undefined || starting) {
      throw new DemoError('SLUICE_DEMO_ALREADY_STARTED', 'start() called on a demo upstream that is already running');
    }
    starting = true;
    try {
      const [cert, key] = await Promise.all([
        readFile(join(certDir, 'leaf.pem')),
        readFile(join(certDir, 'leaf-key.pem')),
      ]).catch((cause: unknown) => {
        throw new DemoError('SLUICE_DEMO_BAD_CONFIG', `cannot read leaf.pem and leaf-key.pem in ${certDir}`, { cause });
      });

      const tracker = new ConnectionTracker();
      const liveStreams = new Set<() => void>();
      const ws = createWsEcho(logger);

      const serve = (tls: boolean) => {
        const routes = createDemoRoutes({ logger, tls, liveStreams });
        return (req: DemoRequest & { socket: Socket }, res: DemoResponse): void => {
          if (req.httpVersionMajor === 1) {
            res.once('close', tracker.http1RequestStarted(req.socket));
            if (tracker.draining) res.setHeader('connection', 'close');
          }
          routes(req, res);
        };
      };
      const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
        if (tracker.draining) return rejectUpgrade(socket, '503 Service Unavailable');
        if (new URL(req.url ?? '/', 'http://demo.invalid').pathname !== '/ws') return rejectUpgrade(socket, '404 Not Found');
        tracker.forgetHttp1(socket as Socket);
        ws.handleUpgrade(req, socket, head);
      };

      // Uploads through a slow tunnel may take longer than node's default 300 s request timeout.
      const http = createServer({ requestTimeout: 0 });
      http.on('connection', (socket: Socket) => tracker.addSocket(socket));
      http.on('request', serve(false));
      http.on('upgrade', onUpgrade);
      http.on('clientError', (error: Error, socket: Duplex) => {
        logger.debug({ err: error.message }, 'demo.client_error');
        socket.destroy();
      });

      const https = createSecureServer({
        cert,
        key,
        allowHTTP1: true,
        ALPNProtocols: ['h2', 'http/1.1'],
        settings: { initialWindowSize: H2_WINDOW_BYTES },
      });
      https.on('connection', (socket: Socket) => tracker.addSocket(socket));
      https.on('session', (session) => {
        tracker.addSession(session);
        session.on('error', (error) => logger.debug({ err: error.message }, 'demo.h2_session_error'));
        session.once('connect', () => session.setLocalWindowSize(H2_WINDOW_BYTES));
      });
      https.on('request', serve(true));
      https.on('upgrade', onUpgrade);
      https.on('tlsClientError', (error: Error) => logger.debug({ err: error.message }, 'demo.tls_client_error'));

      const [httpPort, httpsPort] = await Promise.all([
        listen(http, config.httpPort ?? 0, host),
        listen(https, config.httpsPort ?? 0, host),
      ]).catch(async (cause: unknown) => {
        http.close();
        https.close();
        throw new DemoError('SLUICE_DEMO_BAD_CONFIG', `cannot listen on ${host} (http ${config.httpPort ?? 0}, https ${config.httpsPort ?? 0})`, {
          cause,
        });
      });
      running = { http, https, tracker, ws, liveStreams, address: { http: httpPort, https: httpsPort } };
      logger.info({ host, http: httpPort, https: httpsPort }, 'demo.started');
    } finally {
      starting = false;
    }
  };

  const stop = async (): Promise<void> => {
    const current = running;
    if (current === undefined) return;
    running = undefined;
    const closed = Promise.all([closeServer(current.http), closeServer(current.https)]).then(() => true as const);
    current.tracker.drain();
    for (const finish of [...current.liveStreams]) finish();
    current.ws.closeAll();

    const grace = graceElapsed(graceMs);
    const graceful = await Promise.race([closed, grace.elapsed]);
    grace.cancel();
    if (!graceful) {
      logger.warn({ graceMs }, 'demo.stop_grace_exceeded');
      current.ws.terminateAll();
      current.tracker.destroyAll();
      await closed;
    }
    logger.info('demo.stopped');
  };

  return {
    start,
    stop,
    address() {
      if (running === undefined) {
        throw new DemoError('SLUICE_DEMO_NOT_STARTED', 'address() called before start() resolved or after stop()');
      }
      return { ...running.address };
    },
  };
}
