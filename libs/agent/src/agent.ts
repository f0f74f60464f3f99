import { connect as tcpConnect } from 'node:net';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { trace, SpanKind, type Tracer } from '@opentelemetry/api';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { codecs, consumers, newId, streams, subjects, SluiceError, type ConnAssigned, type RegisterReply, type RegisterRequest } from '@sluice/contracts';
import { onReconnect, runPullConsumer, type RunningConsumer } from '@sluice/nats';
import { createByteTransport, splice, type ByteTransport, type TransportOptions, type TunnelEndDeps, type TunnelSession } from '@sluice/transport';
import { contextFrom } from '@sluice/telemetry';
import { compileRules, matchRule, type AgentConfig, type IngressRule } from './config.ts';
import { startAddressReports, type AddressReports } from './address-report.ts';
import { RollingBytes } from './rolling-bytes.ts';
import { AGENT_VERSION } from './version.ts';
import { groupClaimSources, SOURCES_BUDGET_BYTES, type ClaimSourceMap } from './claim-sources.ts';

export interface AgentDeps extends TunnelEndDeps {
  /** Takes a connection only when this says yes to its edge's id (developer mode: tunnel pods only). */
  acceptEdge?: (edgeId: string) => boolean;
  /** What the heartbeat names as the agent software; default `sluice-agent/<version>`. */
  version?: string;
  /** Where the first registration's hostnames come from (`setIngress` replaces it); default all `config`. */
  claimSources?: ClaimSourceMap;
}

export interface Agent {
  /** Registers (retrying until the registry answers), then serves. Resolves with what was granted. */
  start(): Promise<RegisterReply>;
  stop(): Promise<void>;
  /**
   * Replaces the ingress rules (a Kubernetes agent calls this as Ingress objects change) and
   * re-registers, so the registry's routes for this agent become exactly the new hostnames.
   */
  setIngress(ingress: AgentConfig['ingress'], sources?: ClaimSourceMap): Promise<RegisterReply>;
  readonly agentId: string | undefined;
  readonly activeConnections: number;
}

/** Log lines name the first hundred hostnames (an agent may have 10,000) and count them all. */
const loggedHostnames = (accepted: string[]): { hostnames: string[]; hostnameCount: number } => ({ hostnames: accepted.slice(0, 100), hostnameCount: accepted.length });

export class RegistrationRefusedError extends SluiceError {
  constructor(message: string) {
    super('SLUICE_REGISTRATION_REFUSED', message);
  }
}

/**
 * The agent: registers its hostnames, heartbeats, pulls connection assignments and hands each
 * connection's bytes to the upstream its ingress rules name.
 */
export function createAgent(config: AgentConfig, deps: AgentDeps): Agent {
  const { nc, logger } = deps;
  const hbNc = deps.controlNc ?? nc;
  const tracer = deps.tracer ?? trace.getTracer('sluice-agent');
  let rules: IngressRule[] = compileRules(config);
  // own credentials: permissions name only this agent's subjects, and streams are the gateway's
  const ownCreds = config.credentials !== undefined;
  const registerSubject = ownCreds && config.agentId ? subjects.registryAgentRegister(config.agentId) : subjects.registryRegister;
  const unregisterSubject = ownCreds && config.agentId ? subjects.registryAgentUnregister(config.agentId) : subjects.registryUnregister;
  const instanceId = newId(8);
  const active = new Set<Promise<void>>();
  let agentId: string | undefined;
  let transport: ByteTransport | undefined;
  let assignments: RunningConsumer | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let draining = false;
  let edgeWatch: Subscription | undefined;
  let addressReports: AddressReports | undefined;
  let claimSources: ClaimSourceMap = deps.claimSources ?? new Map();
  // what the heartbeat tells the dashboard: bytes of finished connections plus the open ones' so far
  const open = new Set<TunnelSession>();
  let closedIn = 0;
  let closedOut = 0;
  const traffic = new RollingBytes();
  let connectedAt = performance.now();
  onReconnect(nc, () => (connectedAt = performance.now()));

  const reg = deps.metrics;
  const metrics = reg
    ? {
        connections: new Counter({ name: 'sluice_agent_connections_total', help: 'Assigned connections, by outcome: dialed (upstream connected), dial_failed, no_rule (no ingress rule for the host), draining', labelNames: ['proto', 'outcome'], registers: [reg] }),
        active: new Gauge({ name: 'sluice_agent_active_connections', help: 'Connections to upstreams open now', labelNames: ['proto'], registers: [reg] }),
        bytes: new Counter({ name: 'sluice_agent_bytes_total', help: 'Bytes carried, by direction (up: toward the upstream)', labelNames: ['direction'], registers: [reg] }),
        dial: new Histogram({ name: 'sluice_agent_dial_seconds', help: 'Time to connect to the upstream', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5], registers: [reg] }),
      }
    : undefined;

  const sendHeartbeat = (): void => {
    if (!agentId || hbNc.isClosed()) return;
    let totalIn = closedIn;
    let totalOut = closedOut;
    for (const s of open) {
      totalIn += s.bytesIn;
      totalOut += s.bytesOut;
    }
    const minute = traffic.sample(totalIn, totalOut);
    hbNc.publish(subjects.agentHeartbeat(agentId), codecs.agentHeartbeat.encode({
      v: 1, agentId, instanceId, transport: config.transport, draining, ...(config.region ? { region: config.region } : {}),
      version: deps.version ?? AGENT_VERSION,
      connectedMs: Math.round(performance.now() - connectedAt),
      activeConnections: open.size,
      bytesInLastMinute: minute.in,
      bytesOutLastMinute: minute.out,
    }));
  };

  /** Where each name comes from, grouped by position; past the size budget some are left out (and logged). */
  const sourcesOf = (hostnames: string[], budgetBytes: number): NonNullable<RegisterRequest['sources']> => {
    const { sources, dropped } = groupClaimSources(hostnames, claimSources, budgetBytes);
    if (dropped > 0) logger.warn({ dropped }, 'claim sources left out of the registration (over its size budget): the dashboard shows those names without a source');
    return sources;
  };

  const logRefused = (reply: RegisterReply): void => {
    for (const r of reply.refused.slice(0, 20)) logger.warn({ hostname: r.hostname, reason: r.reason }, 'hostname refused by registry');
    if (reply.refused.length > 20) logger.warn({ more: reply.refused.length - 20 }, 'more hostnames refused by registry (`sluice agents status` lists them all)');
  };

  const registerOnce = async (resetConsumers = false): Promise<RegisterReply> => {
    const hostnames = [...new Set(rules.flatMap((r) => (r.hostname ? [r.hostname] : [])))];
    const plain: RegisterRequest = {
      ...(ownCreds ? { resetConsumers } : {}),
      v: 1,
      ...(config.token !== undefined ? { token: config.token } : {}),
      ...(agentId !== undefined ? { agentId } : config.agentId !== undefined ? { agentId: config.agentId } : {}),
      transport: config.transport,
      hostnames,
      generate: config.generate,
    };
    let req = codecs.registerRequest.encode(plain);
    if (hostnames.length > 0) {
      // the sources fill at most what the server's max_payload leaves (and never more than their own budget)
      const room = (nc.info?.max_payload ?? 1024 * 1024) - req.length - 4096;
      req = codecs.registerRequest.encode({ ...plain, sources: sourcesOf(hostnames, Math.min(SOURCES_BUDGET_BYTES, room)) });
    }
    // the registry writes a route per name: 10,000 names take it a few seconds
    const m = await nc.request(registerSubject, req, { timeout: 3_000 + rules.length });
    return codecs.registerReply.decode(m.data);
  };

  /** Own credentials: the registry (re)creates this agent's consumers when it registers. */
  const askForConsumers = async (): Promise<void> => {
    const r = await registerOnce(false);
    if (!r.ok) logger.warn({ err: r.error }, 'registry refused to recreate this agent\'s consumers');
  };

  const onAssigned = (ev: ConnAssigned, headers: Parameters<typeof contextFrom>[0]): void => {
    if (!transport || ev.agentId !== agentId) return;
    const span = tracer.startSpan('agent.dial', { kind: SpanKind.CONSUMER, attributes: { 'sluice.host': ev.host, 'sluice.conn_id': ev.connId } }, contextFrom(headers));
    const session = transport.acceptAtAgent(ev.edgeId, ev.connId);
    if (draining) {
      metrics?.connections.inc({ proto: ev.proto, outcome: 'draining' });
      span.end();
      session.destroy(new Error('agent is stopping'));
      return;
    }
    if (deps.acceptEdge && !deps.acceptEdge(ev.edgeId)) {
      logger.warn({ connId: ev.connId, host: ev.host, edgeId: ev.edgeId }, 'connection from an edge this agent does not take: refused');
      span.setAttribute('sluice.error', 'edge_refused');
      metrics?.connections.inc({ proto: ev.proto, outcome: 'edge_refused' });
      span.end();
      session.destroy(new Error(`connections from edge ${ev.edgeId} are not taken here`));
      return;
    }
    const rule = matchRule(rules, ev.host, ev.proto);
    if (!rule) {
      logger.warn({ connId: ev.connId, host: ev.host, proto: ev.proto }, 'no ingress rule for host');
      span.setAttribute('sluice.error', 'no_rule');
      metrics?.connections.inc({ proto: ev.proto, outcome: 'no_rule' });
      span.end();
      session.destroy(new Error(`no ingress rule for ${ev.proto} ${ev.host}`));
      return;
    }
    span.setAttributes({ 'sluice.agent_id': ev.agentId, 'server.address': rule.host, 'server.port': rule.port });
    const dialStarted = performance.now();
    const socket = tcpConnect({ host: rule.host, port: rule.port, allowHalfOpen: true, noDelay: true });
    const done = new Promise<void>((resolve) => {
      socket.once('connect', () => {
        span.addEvent('upstream connected');
        metrics?.dial.observe((performance.now() - dialStarted) / 1000);
        metrics?.connections.inc({ proto: ev.proto, outcome: 'dialed' });
        metrics?.active.inc({ proto: ev.proto });
        open.add(session);
        splice(socket, session).then(() => {
          open.delete(session);
          closedIn += session.bytesIn;
          closedOut += session.bytesOut;
          metrics?.active.dec({ proto: ev.proto });
          metrics?.bytes.inc({ direction: 'up' }, session.bytesIn);
          metrics?.bytes.inc({ direction: 'down' }, session.bytesOut);
          span.setAttributes({ 'sluice.bytes_up': session.bytesIn, 'sluice.bytes_down': session.bytesOut });
          span.end();
          resolve();
        });
      });
      socket.once('error', (err) => {
        if (socket.connecting || !socket.remoteAddress) {
          logger.warn({ connId: ev.connId, host: ev.host, upstream: `${rule.host}:${rule.port}`, err: err.message }, 'upstream dial failed');
          span.setAttribute('sluice.error', 'dial_failed');
          metrics?.connections.inc({ proto: ev.proto, outcome: 'dial_failed' });
          span.end();
          session.destroy(new Error(`upstream ${rule.host}:${rule.port} unreachable: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
          resolve();
        }
      });
    });
    active.add(done);
    void done.then(() => active.delete(done));
  };

  return {
    get agentId() {
      return agentId;
    },
    get activeConnections() {
      return active.size;
    },
    async start() {
      let reply: RegisterReply | undefined;
      for (let attempt = 0; !reply; attempt++) {
        try {
          reply = await registerOnce(true);
        } catch (err) {
          logger.warn({ err: (err as Error).message, attempt }, 'registry did not answer; retrying');
          await new Promise((r) => setTimeout(r, Math.min(2000, 200 * 2 ** attempt)));
        }
      }
      if (!reply.ok || !reply.agentId) throw new RegistrationRefusedError(reply.error?.message ?? 'registration refused');
      if (ownCreds && reply.agentId !== config.agentId) {
        throw new RegistrationRefusedError(`the registry granted agent id "${reply.agentId}" but the credentials are for "${config.agentId}"`);
      }
      logRefused(reply);
      agentId = reply.agentId;
      transport = createByteTransport(config.transport, { role: 'agent', agentId }, { nc, logger }, { ...deps.transportOptions, ...(ownCreds ? { createStreams: false, manageConsumer: false, onConsumerMissing: askForConsumers } : {}) });
      await transport.start();
      assignments = await runPullConsumer(
        nc,
        { stream: streams.ctrl.name, durable: consumers.agentAssignments(agentId), filterSubject: subjects.connAssigned(agentId), fresh: true, inactiveThresholdMs: 60_000, createStreams: !ownCreds, ...(ownCreds ? { manage: false, onMissing: askForConsumers } : {}) },
        (m) => {
          try {
            onAssigned(codecs.connAssigned.decode(m.data), m.headers);
          } catch (err) {
            logger.warn({ err, subject: m.subject }, 'rejected assignment');
          }
        },
        logger,
      );
      edgeWatch = nc.subscribe(subjects.edgeOfflineAll, {
        callback: (_e, m) => {
          try {
            const { edgeId } = codecs.edgeOffline.decode(m.data);
            const t = transport;
            if (!t || t.sessionsWith(edgeId).length === 0) return;
            const notice = Date.now();
            // an edge that only missed heartbeats under load is still sending frames: keep those
            setTimeout(() => {
              if (t.lastHeardFrom(edgeId) >= notice) return;
              for (const s of t.sessionsWith(edgeId)) if (s.lastHeard < notice) s.destroy(new Error(`edge ${edgeId} went offline`));
            }, config.transport === 'core' ? 300 : 5_000).unref();
          } catch (err) {
            logger.warn({ err }, 'rejected edge offline notice');
          }
        },
      });
      sendHeartbeat();
      heartbeat = setInterval(sendHeartbeat, config.heartbeatMs);
      // ddns serves this agent's names with the address it reports (issue 5)
      addressReports = startAddressReports(nc, agentId, { ...(config.publicAddress ? { publicAddress: config.publicAddress } : {}), everyMs: config.addressReportMs ?? 60_000 }, logger);
      logger.info({ agentId, transport: config.transport, ...loggedHostnames(reply.accepted), urls: reply.urls }, 'agent ready');
      return reply;
    },
    async setIngress(ingress, sources) {
      rules = compileRules({ ...config, ingress });
      claimSources = sources ?? new Map();
      const reply = await registerOnce();
      if (!reply.ok) throw new RegistrationRefusedError(reply.error?.message ?? 'registration refused');
      logRefused(reply);
      logger.info({ agentId, ...loggedHostnames(reply.accepted) }, 'ingress updated');
      return reply;
    },
    async stop() {
      draining = true;
      if (agentId && !nc.isClosed()) {
        sendHeartbeat();
        nc.publish(subjects.agentOffline(agentId), codecs.agentOffline.encode({ v: 1, agentId, instanceId, reason: 'stopped' }));
      }
      if (heartbeat) clearInterval(heartbeat);
      addressReports?.stop();
      const grace = new Promise<void>((r) => setTimeout(r, config.graceMs).unref());
      await Promise.race([Promise.all([...active]), grace]);
      edgeWatch?.unsubscribe();
      await transport?.stop();
      await assignments?.stop();
      if (agentId && config.releaseOnStop && !nc.isClosed()) {
        await nc
          .request(unregisterSubject, codecs.unregisterRequest.encode({ v: 1, agentId, ...(config.token ? { token: config.token } : {}) }), { timeout: 2000 })
          .catch((err: unknown) => logger.warn({ err }, 'could not release hostnames'));
      }
      logger.info({ agentId }, 'agent stopped');
    },
  };
}
