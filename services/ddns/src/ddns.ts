import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { normalizeHostname } from '@sluice/contracts';
import type { DdnsConfig } from './config.ts';
import { startDnsFeed, type DnsFeed } from './feed.ts';
import { startListeners, type ListenerEvents, type Listeners } from './listeners.ts';
import { ResponseRateLimiter } from './rate-limit.ts';
import { Responder } from './responder.ts';
import { createUpdateHandler, type KeyPolicy } from './update.ts';
import { rcodeName } from './wire/constants.ts';
import { wireName } from './wire/name.ts';
import type { TsigKey } from './wire/tsig.ts';
import { ZoneStore } from './zone-store.ts';

export interface DdnsDeps {
  nc: NatsConnection;
  logger: Logger;
  /** Where the counters go (the service's /metrics); none in tests that do not look. */
  metrics?: Registry;
  /** Seconds since the epoch (TSIG time checks); Date.now by default. */
  nowSeconds?: () => number;
}

export interface Ddns {
  /** Loads every record from JetStream, then listens (UDP and TCP). */
  start(): Promise<void>;
  stop(): Promise<void>;
  address(): { host: string; port: number };
  readonly ready: boolean;
}

/** A prom-client counter whose total is read at scrape time from `read()` (label values → total). */
function counterFrom(registry: Registry, name: string, help: string, labelNames: readonly string[], read: () => Iterable<[Record<string, string>, number]>): void {
  const reported = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      for (const [labels, total] of read()) {
        const k = JSON.stringify(labels);
        const delta = total - (reported.get(k) ?? 0);
        if (delta <= 0) continue;
        reported.set(k, total);
        this.inc(labels, delta);
      }
    },
  });
}

/**
 * Counters kept as plain numbers on the hot path and handed to prom-client at scrape time: a
 * labelled `inc()` per query would hash its labels every time.
 */
function metricsFor(registry: Registry | undefined): ListenerEvents {
  const answered = new Map<string, number>();
  const dropped = new Map<string, number>();
  let slipped = 0;
  if (registry) {
    counterFrom(registry, 'sluice_dns_responses_total', 'DNS responses sent, by transport and RCODE', ['transport', 'rcode'], () =>
      [...answered].map(([k, v]) => {
        const [transport, rcode] = k.split(' ') as [string, string];
        return [{ transport, rcode: rcodeName(Number(rcode)) }, v];
      }),
    );
    counterFrom(registry, 'sluice_dns_dropped_total', 'DNS messages not answered, by reason', ['reason'], () => [...dropped].map(([reason, v]) => [{ reason }, v]));
    counterFrom(registry, 'sluice_dns_slipped_total', 'Rate-limited UDP queries answered truncated (TC) instead of dropped', [], () => [[{}, slipped]]);
  }
  return {
    answered(transport, rcode) {
      const k = `${transport} ${rcode}`;
      answered.set(k, (answered.get(k) ?? 0) + 1);
    },
    dropped(reason) {
      dropped.set(reason, (dropped.get(reason) ?? 0) + 1);
    },
    slipped() {
      slipped++;
    },
  };
}

/**
 * The ddns service: an authoritative DNS server for the tunnel zone and the dynamic-DNS zone,
 * fed only by JetStream (the `SLUICE_DNS` stream and the registry's routes bucket).
 */
export function createDdns(config: DdnsConfig, deps: DdnsDeps): Ddns {
  const { nc, logger } = deps;
  const nowSeconds = deps.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const store = new ZoneStore(
    {
      tunnelZone: config.tunnelZone,
      dynZone: config.dynZone,
      ttl: config.ttl,
      hostmaster: config.hostmaster ?? `hostmaster.${config.tunnelZone}`,
      nameservers: config.nameservers.map((n) => ({ name: normalizeHostname(n.name), ipv4: n.ipv4 ?? [], ipv6: n.ipv6 ?? [] })),
      staticEdges: config.edgeAddresses,
      soaTimers: { refresh: 3600, retry: 600, expire: 86_400 },
    },
    nowSeconds(),
  );
  const policies = new Map<string, KeyPolicy>();
  const keys = new Map<string, TsigKey>();
  for (const k of config.tsigKeys) {
    const key: TsigKey = { name: wireName(normalizeHostname(k.name)), secret: Buffer.from(k.secret, 'base64') };
    keys.set(key.name.key, key);
    policies.set(key.name.key, { key, names: k.names.map(normalizeHostname), ...(k.agentId ? { agentId: k.agentId } : {}) });
  }
  let feed: DnsFeed | undefined;
  let listeners: Listeners | undefined;
  let ready = false;
  let edgeSweep: NodeJS.Timeout | undefined;
  const events = metricsFor(deps.metrics);
  const limiter = config.rateLimit === false ? undefined : new ResponseRateLimiter(config.rateLimit);
  const onUpdate = createUpdateHandler(
    {
      store,
      policies,
      logger,
      commit: (changes) => {
        if (!feed) return Promise.reject(new Error('not started'));
        return feed.commit(changes);
      },
    },
    () => responder,
  );
  const responder: Responder = new Responder(
    store,
    { maxUdpPayload: config.maxUdpPayload, tsigKeys: keys, now: nowSeconds, onError: (err) => logger.error({ err }, 'answered SERVFAIL: error while answering') },
    onUpdate,
  );

  return {
    get ready() {
      return ready;
    },
    async start() {
      feed = await startDnsFeed(nc, store, logger);
      listeners = await startListeners(
        { host: config.host, port: config.port, tcpIdleMs: config.tcp.idleMs, tcpMaxConnections: config.tcp.maxConnections, tcpMaxPipelined: config.tcp.maxPipelined },
        responder,
        limiter,
        events,
        logger,
      );
      const sweep = (): void => {
        const gone = store.expireEdges(Date.now() - config.edgeAddressMaxAgeSeconds * 1000);
        if (gone.length > 0) logger.info({ edges: gone }, 'edges stopped reporting their addresses; no longer answered');
      };
      sweep();
      edgeSweep = setInterval(sweep, Math.min(10_000, config.edgeAddressMaxAgeSeconds * 250));
      edgeSweep.unref();
      ready = true;
      logger.info(
        { host: config.host, port: listeners.port, tunnelZone: config.tunnelZone, dynZone: config.dynZone, rateLimit: config.rateLimit === false ? 'off' : config.rateLimit.responsesPerSecond, tsigKeys: keys.size },
        'ddns ready',
      );
    },
    async stop() {
      ready = false;
      if (edgeSweep) clearInterval(edgeSweep);
      await listeners?.close();
      await feed?.stop();
    },
    address() {
      if (!listeners) throw new Error('ddns is not started');
      return { host: config.host, port: listeners.port };
    },
  };
}
