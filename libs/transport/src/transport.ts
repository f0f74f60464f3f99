import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { consumers, streams, subjects, type TransportKind } from '@sluice/contracts';
import { PublishQueue, onDisconnect, onReconnect, runPullConsumer, type RunningConsumer } from '@sluice/nats';
import { TunnelSession, type SessionOptions } from './session.ts';
import { TransportClosedError } from './errors.ts';
import { InflightPool } from './inflight-pool.ts';
import { rstFrame } from './frames.ts';

export type TransportRole = { role: 'edge'; edgeId: string } | { role: 'agent'; agentId: string };

export interface TransportOptions {
  windowBytes?: number;
  chunkBytes?: number;
  /** jetstream: resend unacknowledged frames after this long without progress. */
  rtoMs?: number;
  /** jetstream: how long a closed session lingers to answer resends of its last frames. */
  lingerMs?: number;
  /** Bytes all sessions of this process may have in flight together. */
  maxInflightBytes?: number;
  /** jetstream: create the streams when missing (default true); false when the credentials may not. */
  createStreams?: boolean;
  /**
   * jetstream: false when this process may not create its consumer (an agent on its own
   * credentials: the registry creates it); `onConsumerMissing` asks for it again.
   */
  manageConsumer?: boolean;
  onConsumerMissing?: () => Promise<void>;
}

export interface ByteTransport {
  readonly kind: TransportKind;
  start(): Promise<void>;
  /** Edge side of a connection assigned to `agentId`. */
  openAtEdge(agentId: string, connId: string): TunnelSession;
  /** Agent side of a connection opened by `edgeId`. */
  acceptAtAgent(edgeId: string, connId: string): TunnelSession;
  /** Live sessions with this peer (agent id at an edge, edge id at an agent). */
  sessionsWith(peerId: string): TunnelSession[];
  /** When any frame from this peer last arrived (0 if never): proof of life beyond heartbeats. */
  lastHeardFrom(peerId: string): number;
  readonly activeSessions: number;
  stop(): Promise<void>;
}

export interface TransportDeps {
  nc: NatsConnection;
  logger: Logger;
}

const DEFAULTS = { windowBytes: 4 * 1024 * 1024, chunkBytes: 32 * 1024, rtoMs: 1_000, lingerMs: 15_000, maxInflightBytes: 32 * 1024 * 1024 };
/**
 * A resend that brought no acknowledgement waits twice as long before the next, and no longer:
 * frames published while the stream had no leader (4-9 s of Raft election after its server died)
 * are gone, and the stream takes them again as soon as it has one. A longer backoff (it was up to
 * 16 s) left a transfer idle for that long after the cluster had recovered; what a resend costs is
 * bounded by the process's in-flight pool and ends with the first acknowledgement.
 */
const MAX_RTO_BACKOFF = 1;
const EARLY_MAX_FRAMES = 256;
const EARLY_TTL_MS = 10_000;

/**
 * The byte transport: one inbound subscription (core) or one pull consumer (jetstream) per
 * process, demultiplexed by connection id into TunnelSessions. Both kinds share the framing,
 * credits and sessions; they differ in the medium and in what a reconnect means.
 */
export function createByteTransport(
  kind: TransportKind,
  who: TransportRole,
  deps: TransportDeps,
  options: TransportOptions = {},
): ByteTransport {
  const opts = { ...DEFAULTS, ...options };
  const { nc, logger } = deps;
  const sessions = new Map<string, TunnelSession>();
  const lingering = new Map<string, { session: TunnelSession; until: number }>();
  const early = new Map<string, { frames: Uint8Array[]; at: number }>();
  const peerHeard = new Map<string, number>();
  const queue = new PublishQueue(nc);
  const reliable = kind === 'jetstream';
  const pool = new InflightPool(opts.maxInflightBytes);
  const sessionOpts: SessionOptions = { windowBytes: opts.windowBytes, chunkBytes: opts.chunkBytes, reliable, pool };
  let sub: Subscription | undefined;
  let consumer: RunningConsumer | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const inboundDir = who.role === 'edge' ? 'down' : 'up';

  const deliver = (subject: string, data: Uint8Array): void => {
    // sluice.<d|s>.<agent>.<edge>.<conn>.<dir>
    const p = subject.split('.');
    if (p.length !== 6 || p[5] !== inboundDir) return;
    const connId = p[4]!;
    peerHeard.set(who.role === 'edge' ? p[2]! : p[3]!, Date.now());
    const s = sessions.get(connId) ?? lingering.get(connId)?.session;
    if (s) {
      s.onFrame(data);
      return;
    }
    if (who.role === 'agent') {
      // bytes can overtake the assignment (different paths): hold a few until it arrives
      let e = early.get(connId);
      if (!e) {
        e = { frames: [], at: Date.now() };
        early.set(connId, e);
      }
      if (e.frames.length < EARLY_MAX_FRAMES) e.frames.push(data);
    }
  };

  /** core: each open session's outbound subject, to reset its peer after a reconnect (below). */
  const outOf = new Map<string, string>();
  const register = (s: TunnelSession, out: string): TunnelSession => {
    sessions.set(s.connId, s);
    if (!reliable) outOf.set(s.connId, out);
    // whoever splices the session also listens; this one keeps an unobserved abort from crashing
    s.on('error', (err) => logger.debug({ connId: s.connId, err: err.message }, 'session aborted'));
    s.once('close', () => {
      sessions.delete(s.connId);
      outOf.delete(s.connId);
      if (reliable && !stopped) lingering.set(s.connId, { session: s, until: Date.now() + opts.lingerMs });
    });
    return s;
  };

  const tick = (): void => {
    const now = Date.now();
    if (reliable) {
      // a safety net for frames the stream never stored; reconnects and NACKs resend sooner
      for (const s of sessions.values()) {
        if (s.hasUnacked && now - s.lastAckProgress > opts.rtoMs * 2 ** s.rtoBackoff) {
          s.retransmit();
          s.rtoBackoff = Math.min(s.rtoBackoff + 1, MAX_RTO_BACKOFF);
        }
      }
      for (const [id, l] of lingering) {
        if (l.session.settled || now > l.until) lingering.delete(id);
        else if (l.session.hasUnacked && now - l.session.lastAckProgress > opts.rtoMs) l.session.retransmit();
      }
    }
    for (const [id, e] of early) if (now - e.at > EARLY_TTL_MS) early.delete(id);
    for (const [id, at] of peerHeard) if (now - at > 60_000) peerHeard.delete(id);
    if (now - lastReport > 2_000 && sessions.size > 0) {
      lastReport = now;
      let blocked = 0;
      for (const s of sessions.values()) if (s.writeBlocked) blocked++;
      logger.debug({ kind, sessions: sessions.size, blocked, inflight: pool.inUse, lingering: lingering.size, early: early.size }, 'transport state');
    }
  };
  let lastReport = 0;

  const inboundFilter = who.role === 'edge' ? subjects.dataForEdge(kind, who.edgeId) : subjects.dataForAgent(kind, who.agentId);

  return {
    kind,
    get activeSessions() {
      return sessions.size;
    },
    async start() {
      if (kind === 'core') {
        sub = nc.subscribe(inboundFilter, {
          callback: (err, msg) => {
            if (err) {
              logger.error({ err }, 'transport subscription failed');
              return;
            }
            deliver(msg.subject, msg.data);
          },
        });
        // core bytes sent while disconnected are gone: end those connections cleanly and promptly.
        // Their resets are gone too (the client drops what is published while it is away), so the
        // peers, whose own server may be fine, are reset again once this side is back.
        let resetAfterReconnect: string[] = [];
        onDisconnect(nc, () => {
          resetAfterReconnect = [...outOf.values()];
          for (const s of sessions.values()) s.destroy(new TransportClosedError('NATS connection lost'));
        });
        onReconnect(nc, () => {
          const frame = rstFrame('the peer lost its NATS connection');
          for (const subject of resetAfterReconnect) nc.publish(subject, frame);
          resetAfterReconnect = [];
        });
      } else {
        const durable = who.role === 'edge' ? consumers.edgeData(who.edgeId) : consumers.agentData(who.agentId);
        consumer = await runPullConsumer(
          nc,
          { stream: streams.data.name, durable, filterSubject: inboundFilter, fresh: true, maxMessages: 512, inactiveThresholdMs: 120_000, ...(options.createStreams === false ? { createStreams: false } : {}), ...(options.manageConsumer === false ? { manage: false } : {}), ...(options.onConsumerMissing ? { onMissing: options.onConsumerMissing } : {}) },
          (m) => deliver(m.subject, m.data),
          logger,
        );
        onReconnect(nc, () => {
          // the stream may have missed frames while we were away: resend ours, report our position
          setTimeout(() => {
            for (const s of sessions.values()) {
              s.retransmit();
              s.announce();
            }
          }, 200);
        });
      }
      timer = setInterval(tick, 250);
      timer.unref();
    },
    openAtEdge(agentId, connId) {
      if (who.role !== 'edge') throw new TransportClosedError('openAtEdge called on an agent transport');
      const out = subjects.data(kind, agentId, who.edgeId, connId, 'up');
      return register(new TunnelSession(connId, agentId, (f) => queue.publish(out, f), sessionOpts), out);
    },
    acceptAtAgent(edgeId, connId) {
      if (who.role !== 'agent') throw new TransportClosedError('acceptAtAgent called on an edge transport');
      const out = subjects.data(kind, who.agentId, edgeId, connId, 'down');
      const s = register(new TunnelSession(connId, edgeId, (f) => queue.publish(out, f), sessionOpts), out);
      const e = early.get(connId);
      if (e) {
        early.delete(connId);
        for (const f of e.frames) s.onFrame(f);
      }
      return s;
    },
    lastHeardFrom(peerId) {
      return peerHeard.get(peerId) ?? 0;
    },
    sessionsWith(peerId) {
      return [...sessions.values()].filter((s) => s.peerId === peerId);
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      for (const s of sessions.values()) s.destroy(new TransportClosedError('transport stopped'));
      queue.flush();
      sub?.unsubscribe();
      await consumer?.stop();
      lingering.clear();
      early.clear();
    },
  };
}
