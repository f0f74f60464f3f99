import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { codecs, dnsCodecs, dnsStream, dnsSubjects, InvalidMessageError, subjects, type AgentAddress, type AgentHeartbeat } from '@sluice/contracts';

/** What the dashboard shows of a running agent, beside its record. Every field but `online` may be unknown. */
export interface AgentStatus {
  online: boolean;
  lastSeen?: string;
  /** Instances heartbeating now (replicas of one agent id). */
  instances?: number;
  /** The agent software (`sluice-agent/0.1.0`); several, comma-separated, when replicas differ. */
  version?: string;
  /** Since when the longest-connected live instance has been connected (the registry's clock). */
  connectedSince?: string;
  activeConnections?: number;
  bytesInLastMinute?: number;
  bytesOutLastMinute?: number;
  /** The address the agent reports for dynamic DNS (what the NATS server sees, or its configured one). */
  publicAddress?: { ipv4?: string; ipv6?: string; source: AgentAddress['source']; reportedAt: string };
}

export interface AgentPresenceOptions {
  /** An instance is online while its last heartbeat is younger than this. */
  onlineMs: number;
  /** Agents remembered (the least recently heard of go first). */
  maxAgents: number;
  /** Instances remembered per agent id (the least recently heard of go first). */
  maxInstancesPerAgent: number;
  now: () => number;
}

const defaults: AgentPresenceOptions = { onlineMs: 5_000, maxAgents: 100_000, maxInstancesPerAgent: 16, now: Date.now };

interface Instance {
  hb: AgentHeartbeat;
  at: number;
  connectedSince?: number;
}

interface Seen {
  lastSeen: number;
  /** Live instances, by instance id; insertion order is the order last heard from. */
  instances: Map<string, Instance>;
  /** The last version heard, kept while the agent is offline. */
  version?: string;
}

/** A reconnect shifts `connectedMs` by more than this; network jitter does not. */
const SAME_CONNECTION_MS = 2_000;
/** How long a stopped instance's late heartbeat (sent on another connection) is not taken for a restart. */
const STOPPED_MEMORY_MS = 10_000;

/**
 * The registry's in-memory view of running agents: their heartbeats (`sluice.agent.<id>.heartbeat`,
 * with version, connection age, open connections and last-minute bytes), their stop notices, and the
 * public addresses they report for dynamic DNS (`sluice.dns.agent.<id>.address`). Each message is
 * validated and must name the agent of its subject (an agent's credentials publish only there).
 * Bounded: at most `maxAgents` agents and `maxInstancesPerAgent` instances each.
 */
export class AgentPresence {
  private readonly seen = new Map<string, Seen>();
  private readonly addresses = new Map<string, { addr: AgentAddress; at: number }>();
  private readonly stopped = new Map<string, number>();
  /** Rejections are logged once a minute per subject: a broken agent heartbeats several times a second. */
  private readonly warned = new Map<string, number>();
  private subs: Subscription[] = [];
  private readonly opts: AgentPresenceOptions;

  constructor(
    private readonly nc: NatsConnection,
    private readonly logger: Logger,
    opts: Partial<AgentPresenceOptions> = {},
  ) {
    this.opts = { ...defaults, ...opts };
  }

  start(): void {
    this.subs = [
      this.nc.subscribe(subjects.agentHeartbeatAll, { callback: (_e, m) => this.onHeartbeat(m.subject, m.data) }),
      this.nc.subscribe(subjects.agentOfflineAll, { callback: (_e, m) => this.onOffline(m.subject, m.data) }),
      this.nc.subscribe(dnsSubjects.agentAddress('*'), { callback: (_e, m) => this.onAddress(m.subject, m.data, this.opts.now()) }),
    ];
    // addresses are reported every minute: the DNS stream (when ddns runs) has them now
    void this.replayAddresses().catch((err: unknown) =>
      this.logger.info({ err: (err as Error).message }, 'agent addresses not replayed from the DNS stream (no ddns?): they appear with the next reports'),
    );
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }

  status(agentId: string): AgentStatus {
    const s = this.seen.get(agentId);
    const a = this.addresses.get(agentId);
    const publicAddress = a
      ? { ...(a.addr.ipv4 ? { ipv4: a.addr.ipv4 } : {}), ...(a.addr.ipv6 ? { ipv6: a.addr.ipv6 } : {}), source: a.addr.source, reportedAt: new Date(a.at).toISOString() }
      : undefined;
    if (!s) return { online: false, ...(publicAddress ? { publicAddress } : {}) };
    const now = this.opts.now();
    const live = [...s.instances.values()].filter((i) => now - i.at < this.opts.onlineMs);
    const base: AgentStatus = {
      online: live.length > 0,
      lastSeen: new Date(s.lastSeen).toISOString(),
      ...(publicAddress ? { publicAddress } : {}),
    };
    if (live.length === 0) return { ...base, ...(s.version ? { version: s.version } : {}) };
    const sum = (f: (hb: AgentHeartbeat) => number | undefined): number | undefined => {
      const known = live.map((i) => f(i.hb)).filter((n): n is number => n !== undefined);
      return known.length > 0 ? known.reduce((x, y) => x + y, 0) : undefined;
    };
    const versions = [...new Set(live.flatMap((i) => (i.hb.version ? [i.hb.version] : [])))].sort();
    const since = live.flatMap((i) => (i.connectedSince !== undefined ? [i.connectedSince] : []));
    const active = sum((hb) => hb.activeConnections);
    const bytesIn = sum((hb) => hb.bytesInLastMinute);
    const bytesOut = sum((hb) => hb.bytesOutLastMinute);
    return {
      ...base,
      instances: live.length,
      ...(versions.length > 0 ? { version: versions.join(', ') } : {}),
      ...(since.length > 0 ? { connectedSince: new Date(Math.min(...since)).toISOString() } : {}),
      ...(active !== undefined ? { activeConnections: active } : {}),
      ...(bytesIn !== undefined ? { bytesInLastMinute: bytesIn } : {}),
      ...(bytesOut !== undefined ? { bytesOutLastMinute: bytesOut } : {}),
    };
  }

  private onHeartbeat(subject: string, data: Uint8Array): void {
    const id = subject.split('.')[2] ?? '';
    let hb: AgentHeartbeat;
    try {
      hb = codecs.agentHeartbeat.decode(data);
      if (hb.agentId !== id) throw new InvalidMessageError(`AgentHeartbeat: names agent ${hb.agentId} on agent ${id}'s subject`);
    } catch (err) {
      this.reject(subject, err);
      return;
    }
    const now = this.opts.now();
    const stoppedAt = this.stopped.get(hb.instanceId);
    if (stoppedAt !== undefined && now - stoppedAt < STOPPED_MEMORY_MS) return;
    let s = this.seen.get(id);
    if (s) this.seen.delete(id);
    else {
      s = { lastSeen: now, instances: new Map() };
      evictOldest(this.seen, this.opts.maxAgents - 1);
    }
    this.seen.set(id, s);
    s.lastSeen = now;
    if (hb.version) s.version = hb.version;
    const prev = s.instances.get(hb.instanceId);
    s.instances.delete(hb.instanceId);
    let connectedSince = hb.connectedMs !== undefined ? now - hb.connectedMs : undefined;
    if (connectedSince !== undefined && prev?.connectedSince !== undefined && Math.abs(prev.connectedSince - connectedSince) < SAME_CONNECTION_MS) connectedSince = prev.connectedSince;
    s.instances.set(hb.instanceId, { hb, at: now, ...(connectedSince !== undefined ? { connectedSince } : {}) });
    for (const [k, i] of s.instances) {
      if (s.instances.size <= this.opts.maxInstancesPerAgent && now - i.at < this.opts.onlineMs) break;
      s.instances.delete(k);
    }
  }

  private onOffline(subject: string, data: Uint8Array): void {
    const id = subject.split('.')[2] ?? '';
    try {
      const off = codecs.agentOffline.decode(data);
      if (off.agentId !== id) throw new InvalidMessageError(`AgentOffline: names agent ${off.agentId} on agent ${id}'s subject`);
      const s = this.seen.get(id);
      if (!s) return;
      const gone = off.instanceId !== undefined ? [off.instanceId] : [...s.instances.keys()];
      const now = this.opts.now();
      for (const i of gone) {
        s.instances.delete(i);
        if (off.reason === 'stopped') {
          evictOldest(this.stopped, 1_000);
          this.stopped.set(i, now);
        }
      }
    } catch (err) {
      this.reject(subject, err);
    }
  }

  private onAddress(subject: string, data: Uint8Array, at: number): void {
    const id = subject.split('.')[3] ?? '';
    let addr: AgentAddress;
    try {
      addr = dnsCodecs.agentAddress.decode(data);
      if (addr.agentId !== id) throw new InvalidMessageError(`AgentAddress: names agent ${addr.agentId} on agent ${id}'s subject`);
    } catch (err) {
      this.reject(subject, err);
      return;
    }
    const cur = this.addresses.get(id);
    if (cur && cur.at > at) return;
    if (cur) this.addresses.delete(id);
    else evictOldest(this.addresses, this.opts.maxAgents - 1);
    this.addresses.set(id, { addr, at });
  }

  /** The last address report of every agent, from the stream that keeps one per subject. */
  private async replayAddresses(): Promise<void> {
    const js = jetstream(this.nc);
    const consumer = await js.consumers.get(dnsStream.name, { filter_subjects: dnsSubjects.agentAddress('*'), deliver_policy: DeliverPolicy.LastPerSubject });
    const batch = await consumer.fetch({ max_messages: this.opts.maxAgents, expires: 2_000 });
    let n = 0;
    for await (const m of batch) {
      this.onAddress(m.subject, m.data, Math.floor(m.info.timestampNanos / 1e6));
      n++;
      if (m.info.pending === 0) break;
    }
    await consumer.delete().catch(() => undefined);
    this.logger.debug({ agents: n }, 'agent addresses replayed from the DNS stream');
  }

  private reject(subject: string, err: unknown): void {
    const now = this.opts.now();
    const last = this.warned.get(subject);
    if (last !== undefined && now - last < 60_000) return;
    evictOldest(this.warned, 1_000);
    this.warned.set(subject, now);
    this.logger.warn({ subject, err: (err as Error).message }, 'ignored an invalid agent status message (logged once a minute per subject)');
  }
}

/** Drops the oldest entries (insertion order) until at most `max` remain. */
function evictOldest<K, V>(map: Map<K, V>, max: number): void {
  for (const k of map.keys()) {
    if (map.size <= max) return;
    map.delete(k);
  }
}
