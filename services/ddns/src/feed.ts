import { DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type ConsumerMessages, type JetStreamManager } from '@nats-io/jetstream';
import type { KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { dnsCodecs, dnsStream, dnsSubjects, parseDnsSubject, codecs, SluiceError } from '@sluice/contracts';
import { onReconnect, openRoutesBucket, replicasFor } from '@sluice/nats';
import type { ZoneStore } from './zone-store.ts';
import type { TxtChange } from './update.ts';

export class DnsFeedError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SLUICE_DDNS_FEED', message, options);
  }
}

/** The stream of DNS inputs: the last message of each `sluice.dns.>` subject, on disk. */
export async function ensureDnsStream(nc: NatsConnection): Promise<JetStreamManager> {
  // short timeouts: a request lost while the server restarts is retried rather than waited for
  const jsm = await jetstreamManager(nc, { timeout: 1500 });
  const exists = await jsm.streams.info(dnsStream.name).then(
    () => true,
    () => false,
  );
  if (exists) return jsm;
  try {
    await jsm.streams.add({
      name: dnsStream.name,
      subjects: [...dnsStream.subjects],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_msgs_per_subject: 1,
      max_bytes: 256 * 1024 * 1024,
      max_msg_size: 16 * 1024,
      // on a cluster, kept on three servers: the DNS inputs survive losing one
      num_replicas: replicasFor(nc),
    });
  } catch (err) {
    // another ddns may have created it between our info and add
    await jsm.streams.info(dnsStream.name).catch(() => {
      throw err;
    });
  }
  return jsm;
}

/**
 * Retries `fn` until JetStream answers: a ddns that starts with (or right after) its nats-server
 * waits for it, as it waits for the first connection, instead of exiting.
 */
async function untilAvailable<T>(fn: () => Promise<T>, logger: Logger): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt % 5 === 0) logger.warn({ err: (err as Error).message, attempt }, 'JetStream not available yet; retrying');
      await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** attempt)));
    }
  }
}

export interface DnsFeed {
  /** Stores TXT changes in the stream and resolves once this server has applied them. */
  commit(changes: TxtChange[]): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Applies one `sluice.dns.>` message to the store. Invalid messages are logged and skipped: a
 * publisher with a bug must not stop the zone from loading.
 */
export function applyDnsMessage(store: ZoneStore, subject: string, data: Uint8Array, logger: Logger): void {
  const what = parseDnsSubject(subject);
  try {
    if (!what) throw new DnsFeedError(`"${subject}" is not a DNS input subject`);
    if (what.kind === 'agent-address') {
      const ev = dnsCodecs.agentAddress.decode(data);
      if (ev.agentId !== what.agentId) throw new DnsFeedError(`agentId "${ev.agentId}" in a report on ${subject}`);
      store.setAgentAddress(ev.agentId, ev.ipv4, ev.ipv6);
    } else if (what.kind === 'edge-address') {
      const ev = dnsCodecs.edgeAddress.decode(data);
      if (ev.edgeId !== what.edgeId) throw new DnsFeedError(`edgeId "${ev.edgeId}" in a report on ${subject}`);
      store.setEdge(ev.edgeId, ev.ipv4, ev.ipv6, ev.ts);
    } else {
      const ev = dnsCodecs.acmeTxt.decode(data);
      if (ev.name !== what.name) throw new DnsFeedError(`name "${ev.name}" in a record on ${subject}`);
      store.setTxt(ev.name, ev.rdata.map((b) => new Uint8Array(Buffer.from(b, 'base64'))), ev.keyName);
    }
  } catch (err) {
    logger.warn({ err, subject }, 'ignored DNS input');
  }
}

/**
 * Loads the DNS inputs and the routes (the history of both, before resolving) and keeps
 * following them. Resolves once the store holds everything that was stored when it started.
 */
export async function startDnsFeed(nc: NatsConnection, store: ZoneStore, logger: Logger): Promise<DnsFeed> {
  const jsm = await untilAvailable(() => ensureDnsStream(nc), logger);
  const js = jetstream(nc);
  let stopped = false;
  onReconnect(nc, () => {
    // a nats-server that lost its store must get the stream back before reports can land in it
    if (!stopped) void ensureDnsStream(nc).catch((err: unknown) => logger.warn({ err }, 'could not re-create the DNS stream'));
  });

  // --- sluice.dns.> --------------------------------------------------------------------------
  const info = await untilAvailable(() => jsm.streams.info(dnsStream.name), logger);
  const lastAtStart = info.state.last_seq;
  let applied = 0;
  const waiters: Array<{ seq: number; resolve: () => void }> = [];
  let dnsLoaded!: () => void;
  const dnsReady = new Promise<void>((r) => (dnsLoaded = r));
  if (info.state.messages === 0) dnsLoaded();
  const consumer = await js.consumers.get(dnsStream.name, { filter_subjects: dnsSubjects.all, deliver_policy: DeliverPolicy.LastPerSubject });
  const messages: ConsumerMessages = await consumer.consume({
    callback: (m) => {
      applyDnsMessage(store, m.subject, m.data, logger);
      applied = Math.max(applied, m.seq);
      if (m.seq >= lastAtStart || m.info.pending === 0) dnsLoaded();
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i]!;
        if (w.seq <= applied) {
          waiters.splice(i, 1);
          w.resolve();
        }
      }
    },
  });

  // --- routes (the registry's bucket: which names are whose) -----------------------------------
  const kv = await untilAvailable(() => openRoutesBucket(nc), logger);
  const watcher = await kv.watch({ key: '>' });
  let routesLoaded!: () => void;
  const routesReady = new Promise<void>((r) => (routesLoaded = r));
  const onRoute = (e: KvWatchEntry): void => {
    if (e.operation === 'PUT') {
      try {
        const rec = codecs.routeRecord.decode(e.value);
        store.putRoute(e.key, rec.hostname, rec.agentId);
      } catch (err) {
        logger.warn({ err, key: e.key }, 'ignored invalid route record');
      }
    } else store.deleteRoute(e.key);
    if (e.delta === 0) routesLoaded();
  };
  void (async () => {
    for await (const e of watcher) onRoute(e);
  })();
  if ((await kv.status()).values === 0) routesLoaded();

  await Promise.all([dnsReady, routesReady]);
  logger.info({ dnsInputs: info.state.messages, serial: store.currentSerial }, 'zone data loaded');

  const waitApplied = (seq: number, timeoutMs: number): Promise<void> =>
    seq <= applied
      ? Promise.resolve()
      : new Promise((resolve, reject) => {
          const w = { seq, resolve: () => (clearTimeout(t), resolve()) };
          const t = setTimeout(() => {
            const i = waiters.indexOf(w);
            if (i >= 0) waiters.splice(i, 1);
            reject(new DnsFeedError(`stored change ${seq} not seen back within ${timeoutMs} ms`));
          }, timeoutMs);
          waiters.push(w);
        });

  return {
    async commit(changes) {
      let last = 0;
      for (const c of changes) {
        const ack = await js.publish(
          dnsSubjects.acmeTxt(c.name),
          dnsCodecs.acmeTxt.encode({ v: 1, name: c.name, rdata: c.rdata.map((r) => Buffer.from(r).toString('base64')), keyName: c.keyName, ts: Date.now() }),
          { timeout: 3000 },
        );
        last = Math.max(last, ack.seq);
      }
      await waitApplied(last, 3000);
    },
    async stop() {
      stopped = true;
      messages.stop();
      watcher.stop();
    },
  };
}
