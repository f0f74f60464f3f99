import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import {
  codecs,
  routeCandidates,
  streams,
  subjects,
  type ConnOpened,
  type RouteResult,
  type TransportKind,
} from '@sluice/contracts';
import { openRoutesBucket, runPullConsumer, ensureStreams, onDisconnect, onReconnect, type RunningConsumer } from '@sluice/nats';
import { contextFrom, traceHeaders } from '@sluice/telemetry';
import { trace, type Tracer, SpanKind } from '@opentelemetry/api';
import { Counter, Gauge, type Registry } from 'prom-client';

export interface RouterConfig {
  /** An agent silent for this long stops receiving connections. */
  heartbeatTimeoutMs?: number;
  /**
   * Replicas of the jetstream transport's data stream, set on it at start and after every
   * reconnect; by default the gateway's (as many as the control stream). See `dataReplicas` in
   * @sluice/nats's ensureStreams for what one and three cost and keep.
   */
  dataReplicas?: number;
}

export interface RouterDeps {
  nc: NatsConnection;
  logger: Logger;
  tracer?: Tracer;
  metrics?: Registry;
}

interface AgentState {
  instanceId: string;
  transport: TransportKind;
  lastSeen: number;
  draining: boolean;
  region: string | undefined;
}

export interface Router {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** For tests and /readyz: names known and agents alive. */
  snapshot(): { routes: Record<string, string[]>; agents: string[] };
}

/**
 * hostname → agents, from the routes bucket (its history on start, then live changes), and agent
 * liveness from heartbeats. Assigns each opened connection to one live agent, round robin, among
 * those in the edge's region when there are any (bytes then stay off the NATS gateways).
 */
export function createRouter(config: RouterConfig, deps: RouterDeps): Router {
  const { nc, logger } = deps;
  const tracer = deps.tracer ?? trace.getTracer('sluice-router');
  const timeoutMs = config.heartbeatTimeoutMs ?? 1200;
  const streamOptions = { logger, ...(config.dataReplicas !== undefined ? { dataReplicas: config.dataReplicas } : {}) };
  const routes = new Map<string, Set<string>>(); // hostname (maybe *.x) → agent ids
  const routeKeys = new Map<string, { hostname: string; agentId: string }>();
  const agents = new Map<string, AgentState>();
  const edges = new Map<string, number>(); // edge id → last heartbeat
  const rr = new Map<string, number>();
  const subs: Subscription[] = [];
  let consumer: RunningConsumer | undefined;
  let kv: KV | undefined;
  let watchStop: (() => void) | undefined;
  let sweep: NodeJS.Timeout | undefined;

  const reg = deps.metrics;
  const metrics = reg
    ? {
        assignments: new Counter({ name: 'sluice_router_assignments_total', help: 'Opened connections decided: assigned to an agent, not_found (no route for the host), no_agent (no live agent for it)', labelNames: ['result'], registers: [reg] }),
        rejected: new Counter({ name: 'sluice_router_rejected_messages_total', help: 'Messages that failed validation, by kind', labelNames: ['kind'], registers: [reg] }),
        offline: new Counter({ name: 'sluice_router_agents_offline_total', help: 'Agents taken out of rotation, by reason', labelNames: ['reason'], registers: [reg] }),
      }
    : undefined;
  if (reg) {
    // read at scrape time from the router's own maps: nothing to keep in step on the hot path
    new Gauge({ name: 'sluice_router_agents_online', help: 'Agents with a recent heartbeat', registers: [reg], collect() { this.set(agents.size); } });
    new Gauge({ name: 'sluice_router_edges_online', help: 'Edges with a recent heartbeat', registers: [reg], collect() { this.set(edges.size); } });
    new Gauge({ name: 'sluice_router_hostnames', help: 'Hostnames (exact and wildcard) with at least one route', registers: [reg], collect() { this.set(routes.size); } });
  }

  const addRoute = (key: string, hostname: string, agentId: string): void => {
    routeKeys.set(key, { hostname, agentId });
    let set = routes.get(hostname);
    if (!set) routes.set(hostname, (set = new Set()));
    set.add(agentId);
  };
  const removeRoute = (key: string): void => {
    const r = routeKeys.get(key);
    if (!r) return;
    routeKeys.delete(key);
    const set = routes.get(r.hostname);
    set?.delete(r.agentId);
    if (set && set.size === 0) routes.delete(r.hostname);
  };

  const markOffline = (agentId: string, reason: 'stopped' | 'heartbeat_timeout', instanceId?: string): void => {
    const a = agents.get(agentId);
    if (!a || (instanceId && a.instanceId !== instanceId)) return;
    agents.delete(agentId);
    metrics?.offline.inc({ reason });
    logger.info({ agentId, reason }, 'agent offline');
    if (reason === 'heartbeat_timeout') {
      nc.publish(subjects.agentOffline(agentId), codecs.agentOffline.encode({ v: 1, agentId, instanceId: a.instanceId, reason }));
    }
  };

  const decide = (host: string, region: string | undefined): RouteResult['status'] | { agentId: string; transport: TransportKind } => {
    for (const candidate of routeCandidates(host)) {
      const set = routes.get(candidate);
      if (!set || set.size === 0) continue;
      const live: string[] = [];
      for (const id of set) {
        const a = agents.get(id);
        if (a && !a.draining) live.push(id);
      }
      if (live.length === 0) return 'no_agent';
      const local = region === undefined ? [] : live.filter((id) => agents.get(id)!.region === region);
      const pool = local.length > 0 ? local : live;
      pool.sort();
      const n = rr.get(candidate) ?? 0;
      rr.set(candidate, n + 1);
      const agentId = pool[n % pool.length]!;
      return { agentId, transport: agents.get(agentId)!.transport };
    }
    return 'not_found';
  };

  const onOpened = (subject: string, data: Uint8Array, headers: Parameters<typeof contextFrom>[0]): void => {
    let ev: ConnOpened;
    try {
      ev = codecs.connOpened.decode(data);
    } catch (err) {
      logger.warn({ err, subject }, 'rejected conn.opened');
      metrics?.rejected.inc({ kind: 'conn_opened' });
      return;
    }
    const span = tracer.startSpan('router.assign', { kind: SpanKind.CONSUMER, attributes: { 'sluice.host': ev.host, 'sluice.conn_id': ev.connId } }, contextFrom(headers));
    const d = decide(ev.host, ev.region);
    metrics?.assignments.inc({ result: typeof d === 'string' ? d : 'assigned' });
    const reply = subjects.routeResult(ev.edgeId);
    if (typeof d === 'string') {
      span.setAttribute('sluice.route', d);
      span.end();
      nc.publish(reply, codecs.routeResult.encode({ v: 1, connId: ev.connId, status: d }));
      return;
    }
    span.setAttribute('sluice.agent_id', d.agentId);
    const h = traceHeaders(trace.setSpan(contextFrom(headers), span));
    const assigned = codecs.connAssigned.encode({
      v: 1,
      connId: ev.connId,
      edgeId: ev.edgeId,
      agentId: d.agentId,
      host: ev.host,
      proto: ev.proto,
      transport: d.transport,
      clientAddr: ev.clientAddr,
      clientPort: ev.clientPort,
    });
    // published at once, not coalesced: each hop's extra event-loop turn adds to time to first byte
    nc.publish(subjects.connAssigned(d.agentId), assigned, h ? { headers: h } : undefined);
    nc.publish(reply, codecs.routeResult.encode({ v: 1, connId: ev.connId, status: 'assigned', agentId: d.agentId, transport: d.transport }));
    span.end();
  };

  return {
    async start() {
      await ensureStreams(nc, streamOptions);
      kv = await openRoutesBucket(nc, { logger });
      const watcher = await kv.watch({ key: '>' });
      watchStop = () => watcher.stop();
      let initialDone!: () => void;
      const initial = new Promise<void>((r) => (initialDone = r));
      void (async () => {
        for await (const e of watcher) {
          if (e.operation === 'PUT') {
            try {
              const rec = codecs.routeRecord.decode(e.value);
              addRoute(e.key, rec.hostname, rec.agentId);
            } catch (err) {
              logger.warn({ err, key: e.key }, 'ignored invalid route record');
            }
          } else removeRoute(e.key);
          if (e.delta === 0) initialDone();
        }
      })();
      // an empty bucket yields nothing to mark the end of history
      const status = await kv.status();
      if (status.values === 0) initialDone();
      await initial;

      subs.push(
        nc.subscribe(subjects.agentHeartbeatAll, {
          callback: (_e, m) => {
            try {
              const hb = codecs.agentHeartbeat.decode(m.data);
              const prev = agents.get(hb.agentId);
              if (!prev) logger.info({ agentId: hb.agentId, transport: hb.transport, region: hb.region }, 'agent online');
              agents.set(hb.agentId, { instanceId: hb.instanceId, transport: hb.transport, lastSeen: Date.now(), draining: hb.draining, region: hb.region });
            } catch (err) {
              logger.warn({ err, subject: m.subject }, 'rejected heartbeat');
              metrics?.rejected.inc({ kind: 'agent_heartbeat' });
            }
          },
        }),
        nc.subscribe(subjects.agentOfflineAll, {
          callback: (_e, m) => {
            try {
              const off = codecs.agentOffline.decode(m.data);
              if (off.reason === 'stopped') markOffline(off.agentId, 'stopped', off.instanceId);
            } catch (err) {
              logger.warn({ err, subject: m.subject }, 'rejected offline notice');
            }
          },
        }),
      );
      subs.push(
        nc.subscribe(subjects.edgeHeartbeatAll, {
          callback: (_e, m) => {
            try {
              const hb = codecs.edgeHeartbeat.decode(m.data);
              if (!edges.has(hb.edgeId)) logger.info({ edgeId: hb.edgeId }, 'edge online');
              edges.set(hb.edgeId, Date.now());
            } catch (err) {
              logger.warn({ err, subject: m.subject }, 'rejected edge heartbeat');
              metrics?.rejected.inc({ kind: 'edge_heartbeat' });
            }
          },
        }),
      );
      // While this router has no server, no heartbeat can reach it: that says nothing about the
      // agents and edges, so it judges no one, and gives everyone a full timeout once it is back.
      let connected = true;
      onDisconnect(nc, () => {
        connected = false;
      });
      onReconnect(nc, () => {
        connected = true;
        const now = Date.now();
        for (const a of agents.values()) a.lastSeen = now;
        for (const id of edges.keys()) edges.set(id, now);
        // a process without the setting may have re-created the data stream with the default
        if (config.dataReplicas !== undefined) {
          void ensureStreams(nc, streamOptions).catch((err: unknown) => logger.warn({ err }, 'could not apply the data stream replicas after reconnect'));
        }
      });
      let lastSweep = Date.now();
      sweep = setInterval(() => {
        const now = Date.now();
        // if this process itself was stalled, heartbeats may be waiting unread in its socket:
        // judge no one on a stale view, sweep again next round
        const stalled = now - lastSweep > 400;
        lastSweep = now;
        if (stalled || !connected) return;
        for (const [id, a] of agents) if (now - a.lastSeen > timeoutMs) markOffline(id, 'heartbeat_timeout');
        for (const [id, seen] of edges) {
          if (now - seen <= timeoutMs) continue;
          edges.delete(id);
          logger.info({ edgeId: id, reason: 'heartbeat_timeout' }, 'edge offline');
          // agents end the connections of a dead edge instead of holding their upstreams open
          nc.publish(subjects.edgeOffline(id), codecs.edgeOffline.encode({ v: 1, edgeId: id, reason: 'heartbeat_timeout' }));
        }
      }, 100);
      consumer = await runPullConsumer(
        nc,
        { stream: streams.ctrl.name, durable: 'router', filterSubject: subjects.connOpenedAll, maxMessages: 256, streams: streamOptions },
        (m) => onOpened(m.subject, m.data, m.headers),
        logger,
      );
      logger.info({ routes: routes.size }, 'router ready');
    },
    async stop() {
      if (sweep) clearInterval(sweep);
      await consumer?.stop();
      for (const s of subs) s.unsubscribe();
      watchStop?.();
    },
    snapshot() {
      const r: Record<string, string[]> = {};
      for (const [h, set] of routes) r[h] = [...set];
      return { routes: r, agents: [...agents.keys()] };
    },
  };
}
