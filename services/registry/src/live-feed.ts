import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { FastifyBaseLogger } from 'fastify';
import { codecs, registryEventsAll, subjects, type ConnOpened, type RouteResult } from '@sluice/contracts';
import { covers, type RegistryCore } from './core.ts';

/** One new connection as the dashboard's live view shows it. */
export interface LiveConnection {
  ts: string;
  connId: string;
  host: string;
  proto: 'http' | 'tls';
  clientAddr: string;
  clientPort: number;
  status: RouteResult['status'];
  agentId?: string;
  agent?: string;
}

export interface LiveFeedOptions {
  /** How long one half of a connection (opened, or its route result) waits for the other. */
  joinWindowMs: number;
  /** Bound on connections waiting to be joined; past it the oldest are dropped. */
  maxPending: number;
  /** How long the agent → owner snapshot is trusted without a registry event. */
  ownersMaxAgeMs: number;
}

const defaults: LiveFeedOptions = { joinWindowMs: 10_000, maxPending: 10_000, ownersMaxAgeMs: 30_000 };

interface Owners {
  at: number;
  byAgent: Map<string, { user: string; name: string }>;
  /** Names a user's unrouted connections are shown for: their agents' own addresses and accepted names. */
  patterns: Array<{ pattern: string; user: string }>;
}

type Listener = (c: LiveConnection) => void;

/**
 * Joins the edge's `conn.opened` events with the router's answers (by connection id) and hands
 * each connection only to listeners of the user whose agent it went to (or, unrouted, whose agent
 * address it asked for). Subscribes to NATS only while someone listens.
 */
export class LiveFeed {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly opened = new Map<string, ConnOpened & { seen: number }>();
  private readonly routed = new Map<string, RouteResult & { seen: number }>();
  private subs: Subscription[] = [];
  private owners: Owners | undefined;
  private ownersStale = true;
  private chain: Promise<void> = Promise.resolve();
  private readonly opts: LiveFeedOptions;

  constructor(
    private readonly nc: () => NatsConnection,
    private readonly core: RegistryCore,
    private readonly log: FastifyBaseLogger,
    opts: Partial<LiveFeedOptions> = {},
  ) {
    this.opts = { ...defaults, ...opts };
  }

  get listenerCount(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }

  listenersOf(user: string): number {
    return this.listeners.get(user)?.size ?? 0;
  }

  /** Calls `listener` for each new connection of `user`'s; returns the unsubscribe. */
  subscribe(user: string, listener: Listener): () => void {
    if (this.listenerCount === 0) this.start();
    let set = this.listeners.get(user);
    if (!set) this.listeners.set(user, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(user);
      if (this.listenerCount === 0) this.stop();
    };
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    this.opened.clear();
    this.routed.clear();
    this.owners = undefined;
  }

  private start(): void {
    const nc = this.nc();
    this.subs = [
      nc.subscribe(subjects.connOpenedAll, {
        callback: (_e, m) => {
          let ev: ConnOpened;
          try {
            ev = codecs.connOpened.decode(m.data);
          } catch (err) {
            this.log.warn({ err, subject: m.subject }, 'live view: rejected conn.opened');
            return;
          }
          const r = this.routed.get(ev.connId);
          if (r) {
            this.routed.delete(ev.connId);
            this.deliver(ev, r);
          } else this.remember(this.opened, ev.connId, { ...ev, seen: Date.now() });
        },
      }),
      nc.subscribe(subjects.routeResult('*'), {
        callback: (_e, m) => {
          let r: RouteResult;
          try {
            r = codecs.routeResult.decode(m.data);
          } catch (err) {
            this.log.warn({ err, subject: m.subject }, 'live view: rejected route result');
            return;
          }
          const ev = this.opened.get(r.connId);
          if (ev) {
            this.opened.delete(r.connId);
            this.deliver(ev, r);
          } else this.remember(this.routed, r.connId, { ...r, seen: Date.now() });
        },
      }),
      // any change of agents or routes may change who owns what
      nc.subscribe(registryEventsAll, { callback: () => void (this.ownersStale = true) }),
    ];
  }

  private remember<T extends { seen: number }>(map: Map<string, T>, id: string, value: T): void {
    const now = Date.now();
    // insertion order is age order: drop what waited too long, and the oldest past the bound
    for (const [k, v] of map) {
      if (now - v.seen <= this.opts.joinWindowMs && map.size < this.opts.maxPending) break;
      map.delete(k);
    }
    map.set(id, value);
  }

  private deliver(ev: ConnOpened, r: RouteResult): void {
    // in order, one at a time: the owner lookup may read the store
    this.chain = this.chain
      .then(async () => {
        const owners = await this.currentOwners(r.agentId);
        const agent = r.agentId ? owners.byAgent.get(r.agentId) : undefined;
        const users = agent ? [agent.user] : r.agentId ? [] : [...new Set(owners.patterns.filter((p) => covers(p.pattern, ev.host)).map((p) => p.user))];
        const c: LiveConnection = {
          ts: new Date(ev.ts).toISOString(),
          connId: ev.connId,
          host: ev.host,
          proto: ev.proto,
          clientAddr: ev.clientAddr,
          clientPort: ev.clientPort,
          status: r.status,
          ...(r.agentId ? { agentId: r.agentId } : {}),
          ...(agent ? { agent: agent.name } : {}),
        };
        for (const u of users) for (const l of this.listeners.get(u) ?? []) l(c);
      })
      .catch((err: unknown) => this.log.warn({ err }, 'live view: could not attribute a connection'));
  }

  private async currentOwners(agentId: string | undefined): Promise<Owners> {
    const o = this.owners;
    const fresh = o && !this.ownersStale && Date.now() - o.at < this.opts.ownersMaxAgeMs;
    // an unknown agent id re-reads at most once a second (a configured agent is never in the store)
    const unknown = agentId !== undefined && o !== undefined && !o.byAgent.has(agentId) && Date.now() - o.at > 1000;
    if (o && fresh && !unknown) return o;
    this.ownersStale = false;
    const agents = await this.core.listAgents();
    const next: Owners = { at: Date.now(), byAgent: new Map(), patterns: [] };
    for (const a of agents) {
      next.byAgent.set(a.id, { user: a.user, name: a.name });
      for (const p of [a.hostname, `*.${a.hostname}`, ...a.accepted]) next.patterns.push({ pattern: p, user: a.user });
    }
    this.owners = next;
    return next;
  }
}
