import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Tracer } from '@opentelemetry/api';
import { Counter, Gauge, type Registry } from 'prom-client';
import { codecs, newId, subjects, TUNNEL_EDGE_PREFIX, type TunnelState } from '@sluice/contracts';
import { createEdge, type Edge } from '@sluice/edge';
import { createReporter, type Reporter } from './reporter.ts';
import type { TunnelConfig } from './config.ts';

export interface TunnelDeps {
  nc: NatsConnection;
  /** Heartbeats (the edge's, and the agent's it listens to) go here when given. */
  controlNc?: NatsConnection;
  logger: Logger;
  tracer?: Tracer;
  metrics?: Registry;
  /** The operator's API is called with this (tests may pass their own). */
  fetch?: typeof fetch;
}

export interface Tunnel {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly ready: boolean;
  readonly state: TunnelState;
  /** The port the intercepted traffic arrives on. */
  port(): number;
  readonly edgeId: string;
}

/**
 * The tunnel pod: an edge whose one listener (the intercepted Service port's targetPort) announces
 * every connection for the Intercept's hostname, so the router hands it to the developer's agent
 * and its bytes travel over the byte transport like any other. It reports `connected` to the
 * operator while that agent heartbeats, `disconnected` when it stops, and heartbeats itself.
 */
export function createTunnel(config: TunnelConfig, deps: TunnelDeps): Tunnel {
  const { nc, logger } = deps;
  const hbNc = deps.controlNc ?? nc;
  const edge: Edge = createEdge(
    { edgeId: `${TUNNEL_EDGE_PREFIX}${newId(8)}`, host: config.listenHost, tcp: [{ port: config.listenPort, hostname: config.hostname }], graceMs: config.graceMs },
    { nc, ...(deps.controlNc ? { controlNc: deps.controlNc } : {}), logger, ...(deps.tracer ? { tracer: deps.tracer } : {}), ...(deps.metrics ? { metrics: deps.metrics } : {}) },
  );
  const reporter: Reporter = createReporter(
    { operatorUrl: config.operatorUrl, tunnelId: config.tunnelId, token: config.token, pod: config.pod, heartbeatMs: config.heartbeatMs },
    { logger, ...(deps.fetch ? { fetch: deps.fetch } : {}) },
  );
  const subs: Subscription[] = [];
  let state: TunnelState = 'disconnected';
  let lastAgentHeartbeat = 0;
  let watch: NodeJS.Timeout | undefined;
  let ready = false;

  const reg = deps.metrics;
  const metrics = reg
    ? {
        changes: new Counter({ name: 'sluice_tunnel_state_changes_total', help: 'Changes of the tunnel\'s state, by the state entered', labelNames: ['state'], registers: [reg] }),
      }
    : undefined;
  if (reg) {
    new Gauge({ name: 'sluice_tunnel_connected', help: '1 while the developer\'s agent is online (the tunnel reports connected)', registers: [reg], collect() { this.set(state === 'connected' ? 1 : 0); } });
  }

  const setState = (next: TunnelState, reason?: string): void => {
    if (next === state) return;
    state = next;
    metrics?.changes.inc({ state: next });
    logger.info({ state: next, agentId: config.agentId, reason }, 'tunnel state changed');
    reporter.status(next, reason);
  };

  return {
    get ready() {
      return ready;
    },
    get state() {
      return state;
    },
    get edgeId() {
      return edge.edgeId;
    },
    port: () => edge.tcpPorts()[0] ?? 0,
    async start() {
      subs.push(
        hbNc.subscribe(subjects.agentHeartbeat(config.agentId), {
          callback: (_e, m) => {
            try {
              const hb = codecs.agentHeartbeat.decode(m.data);
              if (hb.agentId !== config.agentId) return;
              if (hb.draining) {
                setState('disconnected', `agent ${config.agentId} is stopping`);
                return;
              }
              lastAgentHeartbeat = Date.now();
              setState('connected');
            } catch (err) {
              logger.warn({ err, subject: m.subject }, 'rejected agent heartbeat');
            }
          },
        }),
        hbNc.subscribe(subjects.agentOffline(config.agentId), {
          callback: (_e, m) => {
            try {
              const off = codecs.agentOffline.decode(m.data);
              if (off.agentId !== config.agentId) return;
              lastAgentHeartbeat = 0;
              setState('disconnected', off.reason === 'stopped' ? `agent ${config.agentId} stopped` : `agent ${config.agentId} missed its heartbeats (router)`);
            } catch (err) {
              logger.warn({ err, subject: m.subject }, 'rejected agent offline notice');
            }
          },
        }),
      );
      await edge.start();
      watch = setInterval(() => {
        if (state === 'connected' && Date.now() - lastAgentHeartbeat > config.agentTimeoutMs) {
          setState('disconnected', `no heartbeat from agent ${config.agentId} for ${config.agentTimeoutMs} ms (the developer's CLI is gone)`);
        }
      }, Math.min(250, Math.floor(config.agentTimeoutMs / 4)));
      // the operator hears the state at once, then every heartbeat
      reporter.status(state, state === 'disconnected' ? `waiting for agent ${config.agentId}` : undefined);
      reporter.start(() => ({ state, activeConnections: edge.activeConnections }));
      ready = true;
      logger.info({ tunnelId: config.tunnelId, hostname: config.hostname, agentId: config.agentId, port: edge.tcpPorts()[0], edgeId: edge.edgeId }, 'tunnel ready');
    },
    async stop() {
      ready = false;
      if (watch) clearInterval(watch);
      for (const s of subs) s.unsubscribe();
      // the Service goes back to its own pods before this pod stops accepting
      await reporter.stop({ state: 'disconnected', reason: 'the tunnel pod is stopping' });
      await edge.stop();
    },
  };
}
