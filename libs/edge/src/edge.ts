import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { NatsConnection, Subscription, MsgHdrs } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { context, trace, SpanKind, SpanStatusCode, type Span, type Tracer } from '@opentelemetry/api';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { codecs, newId, subjects, type RouteResult, type TransportKind } from '@sluice/contracts';
import { ensureStreams } from '@sluice/nats';
import { createByteTransport, splice, type ByteTransport, type TransportOptions, type TunnelEndDeps, type TunnelSession } from '@sluice/transport';
import { HttpRequestFramer, parseClientHello, WireError, type FramerOutput, type RequestHead } from '@sluice/wire';
import { traceHeaders, withTraceContext } from '@sluice/telemetry';
import { errorResponse, tlsAlert } from './pages.ts';

import { startEdgeAddressReports, type EdgeAddressReports, type EdgePublicAddresses } from './address-report.ts';
export interface EdgeConfig {
  edgeId?: string;
  /** Address to listen on (loopback by default; 0.0.0.0 in a container). */
  host?: string;
  /** HTTP listener (routed by Host); absent: none. */
  httpPort?: number;
  /** TLS listener (routed by SNI, passed through); absent: none. */
  tlsPort?: number;
  /**
   * Raw TCP listeners: every connection is routed as `hostname` (a raw stream has no Host or SNI
   * to read) and its bytes are carried untouched. On the wire such a connection is announced as
   * proto `tls`, the opaque-bytes kind: nothing in it is parsed by the edge or the agent. The
   * developer mode's tunnel pod is an edge with one of these and no HTTP or TLS listener.
   */
  tcp?: Array<{ port: number; hostname: string }>;
  maxHeadBytes?: number;
  /** A client must send its request head / ClientHello within this long. */
  headTimeoutMs?: number;
  routeTimeoutMs?: number;
  maxConnsPerClient?: number;
  /** Graceful stop: how long in-flight connections may take to finish. */
  graceMs?: number;
  /** jetstream transport: how long a connection waits for an agent that lost NATS to come back. */
  resumeGraceMs?: number;
  /** The addresses clients reach this edge at; announced to ddns for the tunnel zone when set. */
  publicAddresses?: EdgePublicAddresses;
  /** How often the public addresses are announced again (ddns forgets edges that stop). */
  addressReportMs?: number;
  /** This edge's region (its NATS cluster in a supercluster): agents there are preferred. */
  region?: string;
}

export type EdgeDeps = TunnelEndDeps;

export interface Edge {
  readonly edgeId: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  address(): { http: number; tls: number };
  /** The raw TCP listeners' ports, in the order of `config.tcp`. */
  tcpPorts(): number[];
  readonly ready: boolean;
  readonly activeConnections: number;
}

type Routed = { status: 'assigned'; agentId: string; transport: TransportKind } | { status: 'not_found' | 'no_agent' | 'timeout' };

/**
 * The edge: accepts HTTP and TLS, reads just enough to learn the hostname (Host header, SNI),
 * asks the router for an agent over NATS and then carries the bytes both ways. HTTP is checked
 * per request: a keep-alive request for another host is refused with 421, never forwarded.
 */
export function createEdge(config: EdgeConfig, deps: EdgeDeps): Edge {
  const { nc, logger } = deps;
  const tracer = deps.tracer ?? trace.getTracer('sluice-edge');
  const edgeId = config.edgeId ?? `e${newId(8)}`;
  const cfg = {
    host: config.host ?? '127.0.0.1',
    maxHeadBytes: config.maxHeadBytes ?? 16 * 1024,
    headTimeoutMs: config.headTimeoutMs ?? 10_000,
    routeTimeoutMs: config.routeTimeoutMs ?? 5_000,
    maxConnsPerClient: config.maxConnsPerClient ?? 1_000,
    graceMs: config.graceMs ?? 10_000,
    resumeGraceMs: config.resumeGraceMs ?? 5_000,
  };
  const pending = new Map<string, (r: RouteResult) => void>();
  const perClient = new Map<string, number>();
  const sockets = new Set<Socket>();
  const subs: Subscription[] = [];
  const transports = new Map<TransportKind, ByteTransport>();
  let httpServer: Server | undefined;
  let tlsServer: Server | undefined;
  const tcpServers: Server[] = [];
  let ready = false;
  let heartbeat: NodeJS.Timeout | undefined;
  let addressReports: EdgeAddressReports | undefined;
  const sendHeartbeat = (): void => {
    const hbNc = deps.controlNc ?? nc;
    if (!hbNc.isClosed()) hbNc.publish(subjects.edgeHeartbeat(edgeId), codecs.edgeHeartbeat.encode({ v: 1, edgeId, draining: !ready }));
  };

  const m = deps.metrics;
  const metrics = m
    ? {
        accepted: new Counter({ name: 'sluice_edge_connections_total', help: 'Connections accepted, by protocol and outcome', labelNames: ['proto', 'outcome'], registers: [m] }),
        active: new Gauge({ name: 'sluice_edge_active_connections', help: 'Connections open now', labelNames: ['proto'], registers: [m] }),
        bytes: new Counter({ name: 'sluice_edge_bytes_total', help: 'Bytes carried, by direction', labelNames: ['direction'], registers: [m] }),
        assign: new Histogram({ name: 'sluice_edge_assign_seconds', help: 'Time from hostname known to agent assigned', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1, 5], registers: [m] }),
        misses: new Counter({ name: 'sluice_edge_route_misses_total', help: 'Connections no agent was assigned to: unknown host (not_found), no live agent (no_agent), no router answer (timeout)', labelNames: ['proto', 'reason'], registers: [m] }),
        requests: new Counter({ name: 'sluice_edge_http_requests_total', help: 'HTTP request heads: forwarded to the tunnel, misdirected (421), or answered by the edge with an error status', labelNames: ['outcome'], registers: [m] }),
      }
    : undefined;

  const admit = (socket: Socket): string | null => {
    const ip = socket.remoteAddress ?? 'unknown';
    const n = perClient.get(ip) ?? 0;
    if (n >= cfg.maxConnsPerClient) return null;
    perClient.set(ip, n + 1);
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      const left = (perClient.get(ip) ?? 1) - 1;
      if (left <= 0) perClient.delete(ip);
      else perClient.set(ip, left);
    });
    return ip;
  };

  const route = (connId: string, host: string, proto: 'http' | 'tls', socket: Socket, span: Span): Promise<Routed> => {
    const started = performance.now();
    return new Promise<Routed>((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(connId);
        metrics?.misses.inc({ proto, reason: 'timeout' });
        span.setAttribute('sluice.route', 'timeout');
        resolve({ status: 'timeout' });
      }, cfg.routeTimeoutMs);
      pending.set(connId, (r) => {
        clearTimeout(timer);
        pending.delete(connId);
        metrics?.assign.observe((performance.now() - started) / 1000);
        const routed: Routed = r.status === 'assigned' && r.agentId && r.transport ? { status: 'assigned', agentId: r.agentId, transport: r.transport } : { status: r.status === 'assigned' ? 'no_agent' : r.status };
        if (routed.status !== 'assigned') metrics?.misses.inc({ proto, reason: routed.status });
        span.setAttribute('sluice.route', routed.status);
        resolve(routed);
      });
      const ev = codecs.connOpened.encode({
        v: 1,
        connId,
        edgeId,
        host,
        proto,
        clientAddr: socket.remoteAddress ?? '',
        clientPort: socket.remotePort ?? 0,
        ts: Date.now(),
        ...(config.region ? { region: config.region } : {}),
      });
      // the new-connection event is a span of its own (PRODUCER), the router's span its child
      const subject = subjects.connOpened(edgeId);
      const pub = tracer.startSpan(`${subject} publish`, {
        kind: SpanKind.PRODUCER,
        attributes: { 'messaging.system': 'nats', 'messaging.operation.type': 'publish', 'messaging.destination.name': subject, 'sluice.conn_id': connId },
      }, trace.setSpan(context.active(), span));
      const h: MsgHdrs | undefined = traceHeaders(trace.setSpan(context.active(), pub));
      // control messages go out at once (the client flushes on the next microtask): a
      // setImmediate turn here would add to every new connection's time to first byte
      nc.publish(subject, ev, h ? { headers: h } : undefined);
      pub.end();
    });
  };

  const openSession = (r: { agentId: string; transport: TransportKind }, connId: string): TunnelSession => {
    const t = transports.get(r.transport)!;
    const s = t.openAtEdge(r.agentId, connId);
    s.once('close', () => {
      metrics?.bytes.inc({ direction: 'up' }, s.bytesOut);
      metrics?.bytes.inc({ direction: 'down' }, s.bytesIn);
    });
    return s;
  };

  const finishSpan = (span: Span, attrs: Record<string, string | number>): void => {
    span.setAttributes(attrs);
    span.end();
  };

  const onHttp = (socket: Socket): void => {
    if (!ready || !admit(socket)) {
      socket.end(errorResponse(ready ? 429 : 503, ready ? 'too many connections from your address' : 'this edge is shutting down'));
      socket.destroySoon();
      return;
    }
    socket.setNoDelay(true);
    metrics?.active.inc({ proto: 'http' });
    socket.once('close', () => metrics?.active.dec({ proto: 'http' }));
    const connId = newId(11);
    // spans start when the client connected: reading the hostname is part of the connection's life
    const acceptedAt = performance.timeOrigin + performance.now();
    const framer = new HttpRequestFramer({ maxHeadBytes: cfg.maxHeadBytes });
    let queued: FramerOutput[] = [];
    let state: 'head' | 'routing' | 'open' | 'closing' = 'head';
    let firstHost = '';
    let session: TunnelSession | undefined;
    let span: Span | undefined;
    let waitingForDrain = false;
    let headsForwarded = 0;
    let upgrade: { method: string; held: Buffer[]; heldBytes: number } | undefined;
    let laterHeadTimer: NodeJS.Timeout | undefined;
    // a keep-alive client must finish each later head within the same deadline as the first
    const armLaterHeadTimer = (): void => {
      if (framer.inHead && framer.heldBytes > 0) {
        laterHeadTimer ??= setTimeout(() => {
          logger.debug({ connId }, 'later request head not completed in time');
          session?.destroy(new Error('request head timeout'));
          socket.destroy();
        }, cfg.headTimeoutMs);
      } else if (laterHeadTimer) {
        clearTimeout(laterHeadTimer);
        laterHeadTimer = undefined;
      }
    };
    socket.once('close', () => {
      if (laterHeadTimer) clearTimeout(laterHeadTimer);
    });
    /** First bytes of the response to an upgrade request: accepted (101 / 2xx for CONNECT) or not. */
    const onUpgradeResponse = (chunk: Buffer): void => {
      const u = upgrade;
      if (!u) return;
      upgrade = undefined;
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(chunk.subarray(0, 16).toString('latin1'))?.[1];
      const accepted = status === '101' || (u.method === 'CONNECT' && status !== undefined && status.startsWith('2'));
      if (accepted) {
        for (const b of u.held) session!.write(b);
        if (state === 'open' && !waitingForDrain) socket.resume();
        return;
      }
      // refused: the client may not send anything more on this connection; let the response finish
      state = 'closing';
      socket.removeListener('data', onData);
      socket.pause();
      session!.end();
      session!.once('end', () => socket.end());
    };

    const reject = (status: number, detail: string): void => {
      if (state === 'closing') return;
      state = 'closing';
      clearTimeout(headTimer);
      socket.removeListener('data', onData);
      metrics?.accepted.inc({ proto: 'http', outcome: String(status) });
      metrics?.requests.inc({ outcome: String(status) });
      if (span) finishSpan(span, { 'http.response.status_code': status });
      logger.debug({ connId, status, detail }, 'http refused');
      socket.end(errorResponse(status, detail));
      // don't wait forever for a client that never reads its error page
      setTimeout(() => socket.destroy(), 2_000).unref();
    };

    const headTimer = setTimeout(() => reject(408, `no complete request head within ${cfg.headTimeoutMs / 1000} s`), cfg.headTimeoutMs);

    const misdirected = (head: RequestHead): void => {
      // stop forwarding; let the first host's upstream finish what it was sent, then refuse
      state = 'closing';
      metrics?.requests.inc({ outcome: 'misdirected' });
      socket.removeListener('data', onData);
      socket.pause();
      const page = errorResponse(421, `this connection was opened for ${firstHost}; send requests for ${head.host} on a new connection`);
      session!.once('end', () => socket.end(page));
      session!.end();
      setTimeout(() => socket.destroy(), cfg.graceMs).unref();
    };

    const forward = (outs: FramerOutput[]): void => {
      const s = session!;
      for (const o of outs) {
        if (o.kind === 'head') {
          if (o.head.host !== firstHost) {
            misdirected(o.head);
            return;
          }
          // the upstream continues the trace from the first request's traceparent (no-op when tracing is off)
          s.write(headsForwarded++ === 0 && span ? withTraceContext(o.raw, span.spanContext()) : o.raw);
          metrics?.requests.inc({ outcome: 'forwarded' });
          if (o.head.upgrade) upgrade = { method: o.head.method, held: [], heldBytes: 0 };
        } else if (upgrade) {
          // bytes after an Upgrade/CONNECT wait until the upstream accepts it: if it refuses,
          // they could be a smuggled request that nobody checked
          upgrade.held.push(o.data);
          upgrade.heldBytes += o.data.length;
          if (upgrade.heldBytes > cfg.maxHeadBytes) socket.pause();
        } else s.write(o.data);
      }
      armLaterHeadTimer();
      if (s.writableNeedDrain && !waitingForDrain) {
        waitingForDrain = true;
        socket.pause();
        s.once('drain', () => {
          waitingForDrain = false;
          if (state === 'open') socket.resume();
        });
      }
    };

    const onData = (chunk: Buffer): void => {
      let outs: FramerOutput[];
      try {
        outs = framer.push(chunk);
      } catch (err) {
        const status = err instanceof WireError && 'status' in err ? Number(err.status) : 400;
        if (state === 'open' && session) {
          // a later request is malformed: a response may be mid-flight, so no page, just close
          logger.debug({ connId, status, err: (err as Error).message }, 'malformed request on open connection');
          state = 'closing';
          session.destroy(new Error('client sent a malformed request'));
          socket.destroy();
          return;
        }
        reject(status, (err as Error).message);
        return;
      }
      if (state === 'open') {
        forward(outs);
        return;
      }
      if (state !== 'head') return;
      for (const o of outs) queued.push(o);
      const first = queued.find((o) => o.kind === 'head');
      if (!first || first.kind !== 'head') return;
      clearTimeout(headTimer);
      state = 'routing';
      socket.pause();
      firstHost = first.head.host;
      void startRoute();
    };

    const startRoute = async (): Promise<void> => {
      span = tracer.startSpan('edge.http', { kind: SpanKind.SERVER, startTime: acceptedAt, attributes: { 'sluice.host': firstHost, 'sluice.conn_id': connId, 'client.address': socket.remoteAddress ?? '' } });
      span.setAttributes({ 'sluice.edge_id': edgeId, 'client.port': socket.remotePort ?? 0 });
      const r = await context.with(trace.setSpan(context.active(), span), () => route(connId, firstHost, 'http', socket, span!));
      if (socket.destroyed || state !== 'routing') {
        if (span) finishSpan(span, { 'sluice.outcome': 'client_gone' });
        return;
      }
      if (r.status !== 'assigned') {
        if (r.status === 'not_found') return reject(404, `no tunnel is serving the host "${firstHost}"`);
        if (r.status === 'no_agent') return reject(502, `the tunnel for "${firstHost}" has no agent online right now`);
        return reject(504, `no router answered for "${firstHost}" within ${cfg.routeTimeoutMs / 1000} s`);
      }
      span.setAttribute('sluice.agent_id', r.agentId);
      metrics?.accepted.inc({ proto: 'http', outcome: 'routed' });
      const s = openSession(r, connId);
      session = s;
      state = 'open';
      s.pipe(socket, { end: false });
      s.on('data', (chunk: Buffer) => {
        if (upgrade) onUpgradeResponse(chunk);
      });
      s.on('end', () => {
        if (state === 'open') socket.end();
      });
      s.on('error', (err: Error) => {
        if (s.bytesIn === 0 && state === 'open') {
          state = 'closing';
          socket.removeListener('data', onData);
          socket.end(errorResponse(502, `the upstream for "${firstHost}" could not be reached (${err.message})`));
          setTimeout(() => socket.destroy(), 2_000).unref();
        } else socket.destroy();
      });
      s.once('close', () => {
        finishSpan(span!, { 'sluice.bytes_up': s.bytesOut, 'sluice.bytes_down': s.bytesIn, 'sluice.http_requests': headsForwarded });
        // the tunnel is over: once the client has what we wrote, close (no half-open leftovers)
        if (!s.errored && socket.writableEnded && !socket.destroyed) {
          if (socket.writableFinished) socket.destroy();
          else socket.once('finish', () => socket.destroy());
        }
      });
      socket.on('end', () => {
        if (state === 'open') s.end();
      });
      socket.on('close', () => {
        if (!s.destroyed && !(s.writableFinished && s.readableEnded)) s.destroy(new Error('client closed'));
      });
      const q = queued;
      queued = [];
      forward(q);
      if (state === 'open' && !waitingForDrain) socket.resume();
    };

    socket.on('data', onData);
    socket.on('error', (err) => {
      logger.debug({ connId, err: err.message }, 'client socket error');
      session?.destroy(err);
    });
  };

  const onTls = (socket: Socket): void => {
    if (!ready || !admit(socket)) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    metrics?.active.inc({ proto: 'tls' });
    socket.once('close', () => metrics?.active.dec({ proto: 'tls' }));
    const connId = newId(11);
    // spans start when the client connected: reading the hostname is part of the connection's life
    const acceptedAt = performance.timeOrigin + performance.now();
    const chunks: Buffer[] = [];
    let total = 0;
    let segments = 0;
    let done = false;
    const close = (outcome: string, alert?: Buffer): void => {
      done = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      metrics?.accepted.inc({ proto: 'tls', outcome });
      if (alert) socket.end(alert);
      else socket.end();
      setTimeout(() => socket.destroy(), 1_000).unref();
    };
    const timer = setTimeout(() => close('timeout'), cfg.headTimeoutMs);
    const onData = (chunk: Buffer): void => {
      if (done) return;
      // real clients send a ClientHello in 1-3 segments; re-parsing thousands of 1-byte segments
      // would let one client burn CPU, so a hello still incomplete after 64 is refused
      if (++segments > 64) {
        close('fragmented');
        return;
      }
      chunks.push(chunk);
      total += chunk.length;
      const buf = chunks.length === 1 ? chunk : Buffer.concat(chunks, total);
      if (chunks.length > 1) {
        chunks.length = 0;
        chunks.push(buf);
      }
      let hello;
      try {
        hello = parseClientHello(buf, { maxBytes: cfg.maxHeadBytes });
      } catch (err) {
        logger.debug({ connId, err: (err as Error).message }, 'bad ClientHello');
        close('malformed');
        return;
      }
      if (hello.status === 'incomplete') return;
      done = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.pause();
      if (!hello.serverName) {
        close('no_sni', tlsAlert.unrecognizedName);
        return;
      }
      void startTls(hello.serverName, buf);
    };
    const startTls = async (host: string, head: Buffer): Promise<void> => {
      const span = tracer.startSpan('edge.tls', { kind: SpanKind.SERVER, startTime: acceptedAt, attributes: { 'sluice.host': host, 'sluice.conn_id': connId } });
      span.setAttributes({ 'sluice.edge_id': edgeId, 'client.address': socket.remoteAddress ?? '', 'client.port': socket.remotePort ?? 0 });
      const r = await context.with(trace.setSpan(context.active(), span), () => route(connId, host, 'tls', socket, span));
      if (socket.destroyed) return finishSpan(span, { 'sluice.outcome': 'client_gone' });
      if (r.status !== 'assigned') {
        span.setStatus({ code: SpanStatusCode.ERROR, message: r.status });
        finishSpan(span, { 'sluice.outcome': r.status });
        close(r.status, r.status === 'not_found' ? tlsAlert.unrecognizedName : tlsAlert.internalError);
        return;
      }
      metrics?.accepted.inc({ proto: 'tls', outcome: 'routed' });
      span.setAttribute('sluice.agent_id', r.agentId);
      const s = openSession(r, connId);
      await splice(socket, s, head);
      finishSpan(span, { 'sluice.bytes_up': s.bytesOut, 'sluice.bytes_down': s.bytesIn });
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
  };

  /** A raw TCP connection on a listener whose connections all go to `hostname`. */
  const onTcp = (hostname: string) => (socket: Socket): void => {
    if (!ready || !admit(socket)) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    metrics?.active.inc({ proto: 'tcp' });
    socket.once('close', () => metrics?.active.dec({ proto: 'tcp' }));
    const connId = newId(11);
    const span = tracer.startSpan('edge.tcp', { kind: SpanKind.SERVER, attributes: { 'sluice.host': hostname, 'sluice.conn_id': connId } });
    span.setAttributes({ 'sluice.edge_id': edgeId, 'client.address': socket.remoteAddress ?? '', 'client.port': socket.remotePort ?? 0 });
    // nothing is read before routing: what the client sends meanwhile waits in the socket
    void (async () => {
      const r = await context.with(trace.setSpan(context.active(), span), () => route(connId, hostname, 'tls', socket, span));
      if (socket.destroyed) return finishSpan(span, { 'sluice.outcome': 'client_gone' });
      if (r.status !== 'assigned') {
        span.setStatus({ code: SpanStatusCode.ERROR, message: r.status });
        finishSpan(span, { 'sluice.outcome': r.status });
        metrics?.accepted.inc({ proto: 'tcp', outcome: r.status });
        logger.debug({ connId, hostname, status: r.status }, 'tcp connection not routed');
        // a stream of unknown protocol: there is nothing to answer with but a close
        socket.destroy();
        return;
      }
      metrics?.accepted.inc({ proto: 'tcp', outcome: 'routed' });
      span.setAttribute('sluice.agent_id', r.agentId);
      const s = openSession(r, connId);
      await splice(socket, s);
      finishSpan(span, { 'sluice.bytes_up': s.bytesOut, 'sluice.bytes_down': s.bytesIn });
    })();
  };

  const onAgentOffline = (agentId: string): void => {
    // The router's notice means "no heartbeat lately", which an overloaded but live agent can also
    // cause. So only connections that hear nothing from the agent after the notice are aborted:
    // core after a short check, jetstream after the resume grace (its connections survive the
    // agent's reconnect).
    const notice = Date.now();
    for (const t of transports.values()) {
      if (t.sessionsWith(agentId).length === 0) continue;
      const grace = t.kind === 'core' ? 300 : cfg.resumeGraceMs;
      setTimeout(() => {
        // any frame from the agent since the notice, on any connection, shows it is alive
        if (t.lastHeardFrom(agentId) >= notice) return;
        for (const s of t.sessionsWith(agentId)) if (s.lastHeard < notice) s.destroy(new Error(`agent ${agentId} went offline`));
      }, grace).unref();
    }
  };

  const listen = (server: Server, port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: cfg.host, backlog: 4096 }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });

  return {
    edgeId,
    get ready() {
      return ready;
    },
    get activeConnections() {
      return sockets.size;
    },
    async start() {
      await ensureStreams(nc, { logger });
      for (const kind of ['core', 'jetstream'] as const) {
        const t = createByteTransport(kind, { role: 'edge', edgeId }, { nc, logger }, deps.transportOptions);
        await t.start();
        transports.set(kind, t);
      }
      subs.push(
        nc.subscribe(subjects.routeResult(edgeId), {
          callback: (_e, msg) => {
            try {
              const r = codecs.routeResult.decode(msg.data);
              pending.get(r.connId)?.(r);
            } catch (err) {
              logger.warn({ err }, 'rejected route result');
            }
          },
        }),
        nc.subscribe(subjects.agentOfflineAll, {
          callback: (_e, msg) => {
            try {
              onAgentOffline(codecs.agentOffline.decode(msg.data).agentId);
            } catch (err) {
              logger.warn({ err }, 'rejected offline notice');
            }
          },
        }),
      );
      if (config.httpPort !== undefined) {
        httpServer = createServer({ allowHalfOpen: true, pauseOnConnect: false }, onHttp);
        await listen(httpServer, config.httpPort);
      }
      if (config.tlsPort !== undefined) {
        tlsServer = createServer({ allowHalfOpen: true }, onTls);
        await listen(tlsServer, config.tlsPort);
      }
      for (const l of config.tcp ?? []) {
        const server = createServer({ allowHalfOpen: true }, onTcp(l.hostname));
        await listen(server, l.port);
        tcpServers.push(server);
      }
      ready = true;
      sendHeartbeat();
      heartbeat = setInterval(sendHeartbeat, 300);
      if (config.publicAddresses && config.publicAddresses.ipv4.length + config.publicAddresses.ipv6.length > 0) {
        addressReports = startEdgeAddressReports(deps.controlNc ?? nc, edgeId, config.publicAddresses, config.addressReportMs ?? 60_000, logger);
      }
      logger.info({ edgeId, ...this.address(), ...(tcpServers.length > 0 ? { tcp: this.tcpPorts() } : {}) }, 'edge ready');
    },
    async stop() {
      ready = false;
      addressReports?.stop();
      const closed = Promise.all([httpServer, tlsServer, ...tcpServers].map((s) => new Promise<void>((r) => (s ? s.close(() => r()) : r()))));
      // in-flight connections may finish within the grace period; then the rest are aborted
      const allClosed = Promise.all([...sockets].map((s) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())))));
      const grace = new Promise<void>((r) => setTimeout(r, cfg.graceMs).unref());
      await Promise.race([allClosed, grace]);
      for (const s of sockets) s.destroy();
      await closed;
      if (heartbeat) clearInterval(heartbeat);
      for (const t of transports.values()) await t.stop();
      for (const s of subs) s.unsubscribe();
      logger.info({ edgeId }, 'edge stopped');
    },
    address() {
      return {
        http: (httpServer?.address() as AddressInfo | null)?.port ?? 0,
        tls: (tlsServer?.address() as AddressInfo | null)?.port ?? 0,
      };
    },
    tcpPorts() {
      return tcpServers.map((s) => (s.address() as AddressInfo | null)?.port ?? 0);
    },
  };
}
