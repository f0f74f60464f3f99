import { connect as tcpConnect } from 'node:net';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { trace, SpanKind, type Tracer } from '@opentelemetry/api';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { codecs, consumers, newId, streams, subjects, SluiceError, type ConnAssigned, type RegisterReply } from '@sluice/contracts';
import { runPullConsumer, type RunningConsumer } from '@sluice/nats';
import { createByteTransport, splice, type ByteTransport, type TransportOptions } from '@sluice/transport';
import { contextFrom } from '@sluice/telemetry';
import { compileRules, matchRule, type AgentConfig, type IngressRule } from './config.ts';
import { startAddressReports, type AddressReports } from './address-report.ts';

export interface AgentDeps {
  nc: NatsConnection;
  /** Heartbeats go here when given (a connection that tunnel bytes never congest). */
  controlNc?: NatsConnection;
  logger: Logger;
  tracer?: Tracer;
  metrics?: Registry;
  transportOptions?: TransportOptions;
}

export interface Agent {
  /** Registers (retrying until the registry answers), then serves. Resolves with what was granted. */
  start(): Promise<RegisterReply>;
  stop(): Promise<void>;
  /**
   * Replaces the ingress rules (a Kubernetes agent calls this as Ingress objects change) and
   * re-registers, so the registry's routes for this agent become exactly the new hostnames.
   */
  setIngress(ingress: AgentConfig['ingress']): Promise<RegisterReply>;
  readonly agentId: string | undefined;
  readonly activeConnections: number;
}

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
    hbNc.publish(subjects.agentHeartbeat(agentId), codecs.agentHeartbeat.encode({ v: 1, agentId, instanceId, transport: config.transport, draining, ...(config.region ? { region: config.region } : {}) }));
  };

  const registerOnce = async (resetConsumers = false): Promise<RegisterReply> => {
    const req = codecs.registerRequest.encode({
      ...(ownCreds ? { resetConsumers } : {}),
      v: 1,
      ...(config.token !== undefined ? { token: config.token } : {}),
      ...(agentId !== undefined ? { agentId } : config.agentId !== undefined ? { agentId: config.agentId } : {}),
      transport: config.transport,
      hostnames: [...new Set(rules.flatMap((r) => (r.hostname ? [r.hostname] : [])))],
      generate: config.generate,
    });
    const m = await nc.request(registerSubject, req, { timeout: 3000 });
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
        splice(socket, session).then(() => {
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
      for (const r of reply.refused) logger.warn({ hostname: r.hostname, reason: r.reason }, 'hostname refused by registry');
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
      logger.info({ agentId, transport: config.transport, hostnames: reply.accepted, urls: reply.urls }, 'agent ready');
      return reply;
    },
    async setIngress(ingress) {
      rules = compileRules({ ...config, ingress });
      const reply = await registerOnce();
      if (!reply.ok) throw new RegistrationRefusedError(reply.error?.message ?? 'registration refused');
      for (const r of reply.refused) logger.warn({ hostname: r.hostname, reason: r.reason }, 'hostname refused by registry');
      logger.info({ agentId, hostnames: reply.accepted }, 'ingress updated');
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
