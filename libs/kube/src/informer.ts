// client-node's informer (ListWatch) and Watch, imported alone: its index would load the whole
// generated client (see kube-connection.ts)
import { ListWatch } from '@kubernetes/client-node/dist/cache.js';
import { Watch } from '@kubernetes/client-node/dist/watch.js';
import type { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import type { KubernetesObject } from '@kubernetes/client-node/dist/types.js';
import type { Logger } from 'pino';
import { Backoff } from './backoff.ts';
import type { KubeConnection } from './kube-connection.ts';

/** One page of a LIST. */
export interface ListPage {
  items: unknown[];
  metadata?: { resourceVersion?: string; continue?: string };
}

export interface ResourceInformerOptions<V extends KubernetesObject> {
  /** For logs: `ingresses`, `ingressclasses`. */
  name: string;
  kube: KubeConnection;
  /** The collection's watch path, e.g. `/apis/networking.k8s.io/v1/ingresses`. */
  path: string;
  /** One LIST page (the caller's typed client call, with its timeout). */
  listPage: (limit: number, continueToken: string | undefined) => Promise<ListPage>;
  /** Keeps what the agent needs of an object; the cache holds only this. */
  transform: (o: unknown) => V;
  pageSize: number;
  watchTimeoutSeconds: number;
  /**
   * A watch that delivers nothing (no event, no bookmark) for this long is presumed dead and
   * replaced: a connection lost without a FIN (a NAT or load balancer forgetting it) would
   * otherwise leave the cache silently stale. Default: the watch timeout plus a minute.
   */
  watchIdleMs?: number;
  backoff: { initialMs: number; maxMs: number };
  logger: Logger;
  /** Called after every change to the cache: an object added, updated or deleted, or a (re)list. */
  onChange: (change: InformerChange<V>) => void;
}

export type InformerChange<V> = { type: 'add' | 'update' | 'delete'; object: V } | { type: 'list' };

export interface InformerStats {
  /** Complete LISTs (all pages). */
  lists: number;
  /** Watch streams opened. */
  watches: number;
  /** List or watch failures (each followed by a retry after the backoff). */
  errors: number;
  /** The last BOOKMARK's resourceVersion. */
  lastBookmark?: string;
  lastError?: string;
}

export interface ResourceInformer<V> {
  start(): void;
  stop(): Promise<void>;
  /** Every cached object. */
  list(): readonly V[];
  /** Listed at least once since start. */
  readonly synced: boolean;
  /** Resolves once listed (or never, if stopped first). */
  whenSynced(): Promise<void>;
  readonly stats: Readonly<InformerStats>;
}

/** A watch that stays shorter than this and ends cleanly counts as a failure (no hot re-watch loop). */
const MIN_HEALTHY_WATCH_MS = 1_000;

const isGone = (err: unknown): boolean => {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  return e?.code === 410 || e?.statusCode === 410;
};

const describe = (err: unknown): string => {
  const e = err as { code?: unknown; message?: unknown } | null;
  const msg = typeof e?.message === 'string' ? e.message.split('\n')[0]! : String(err);
  return typeof e?.code === 'number' ? `HTTP ${e.code}: ${msg}` : msg;
};

/**
 * client-node's Watch, plus: bookmarks asked for, a server-side timeout so that watches rotate, the
 * transform applied to every object before the cache sees it, and hooks that tell the informer when
 * a stream was established and how long it lived.
 */
class InformerWatch extends Watch {
  constructor(
    kube: KubeConnection,
    private readonly hooks: {
      transform: (o: unknown) => unknown;
      timeoutSeconds: number;
      idleMs: number;
      established: () => void;
      bookmark: (rv: string | undefined) => void;
      ended: (err: unknown, livedMs: number, done: (err: unknown) => void) => void;
    },
  ) {
    // Watch uses only getCurrentCluster() and applyToFetchOptions() of its KubeConfig
    super(kube as unknown as KubeConfig);
  }

  override async watch(path: string, queryParams: Record<string, string | number | boolean | undefined>, callback: (phase: string, apiObj: any, watchObj?: any) => void, done: (err: any) => void): Promise<AbortController> {
    const opened = Date.now();
    let ended = false;
    let heard = opened;
    let watchdog: NodeJS.Timeout | undefined;
    const controller = await super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: this.hooks.timeoutSeconds },
      (phase, obj, raw) => {
        heard = Date.now();
        if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') callback(phase, this.hooks.transform(obj), raw);
        else {
          if (phase === 'BOOKMARK') this.hooks.bookmark((obj as KubernetesObject | undefined)?.metadata?.resourceVersion);
          callback(phase, obj, raw);
        }
      },
      (err: unknown) => {
        ended = true;
        if (watchdog) clearInterval(watchdog);
        this.hooks.ended(err, Date.now() - opened, done);
      },
    );
    if (!ended) {
      this.hooks.established();
      const idle = this.hooks.idleMs;
      watchdog = setInterval(() => {
        // aborting makes the stream fail: the informer then resumes from its resourceVersion
        if (Date.now() - heard > idle) controller.abort();
      }, Math.min(idle, 10_000));
      watchdog.unref();
    }
    return controller;
  }
}

/**
 * An informer for one collection: client-node's ListWatch (list, then watch from the list's
 * resourceVersion; a 410 in either resets it to a fresh list) with what it leaves to its user —
 * paginated lists, retries with backoff after any failure (ListWatch stops at the first), and
 * no hot loop when a server ends watches at once.
 */
export function createResourceInformer<V extends KubernetesObject>(opts: ResourceInformerOptions<V>): ResourceInformer<V> {
  const { logger } = opts;
  const backoff = new Backoff(opts.backoff.initialMs, opts.backoff.maxMs);
  const stats: InformerStats = { lists: 0, watches: 0, errors: 0 };
  const timers = new Set<NodeJS.Timeout>();
  let stopped = true;
  let synced = false;
  let syncedWaiters: Array<() => void> = [];

  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    timers.add(t);
  };

  const listFn = async (): Promise<{ metadata: { resourceVersion: string }; items: V[] }> => {
    // a continue token can expire between pages (410): start the list over, twice at most
    for (let attempt = 0; ; attempt++) {
      try {
        const items: V[] = [];
        let resourceVersion: string | undefined;
        let token: string | undefined;
        do {
          const page = await opts.listPage(opts.pageSize, token);
          resourceVersion ??= page.metadata?.resourceVersion;
          for (const item of page.items) items.push(opts.transform(item));
          token = page.metadata?.continue || undefined;
        } while (token);
        stats.lists++;
        logger.debug({ informer: opts.name, items: items.length, resourceVersion }, 'listed');
        // ListWatch fills its cache right after this promise resolves, in the same turn
        setImmediate(() => {
          if (stopped) return;
          if (!synced) {
            synced = true;
            for (const w of syncedWaiters) w();
            syncedWaiters = [];
          }
          opts.onChange({ type: 'list' });
        });
        return { metadata: { resourceVersion: resourceVersion ?? '' }, items };
      } catch (err) {
        if (isGone(err) && attempt < 2) continue;
        throw err;
      }
    }
  };

  const watch = new InformerWatch(opts.kube, {
    transform: opts.transform,
    timeoutSeconds: opts.watchTimeoutSeconds,
    idleMs: opts.watchIdleMs ?? (opts.watchTimeoutSeconds + 60) * 1000,
    established: () => {
      stats.watches++;
      backoff.reset();
    },
    bookmark: (rv) => {
      if (rv !== undefined) stats.lastBookmark = rv;
    },
    ended: (err, livedMs, done) => {
      if (err || stopped || livedMs >= MIN_HEALTHY_WATCH_MS) {
        done(err);
        return;
      }
      // ended cleanly at once (or after a 410 ERROR event): resume, but not in a tight loop
      later(backoff.next(), () => done(null));
    },
  });

  const lw = new ListWatch<V>(opts.path, watch, listFn as () => Promise<any>, false);
  lw.on('add', (object) => opts.onChange({ type: 'add', object }));
  lw.on('update', (object) => opts.onChange({ type: 'update', object }));
  lw.on('delete', (object) => opts.onChange({ type: 'delete', object }));
  const failed = (err: unknown): void => {
    if (stopped) return;
    stats.errors++;
    stats.lastError = describe(err);
    const delay = backoff.next();
    logger.warn({ informer: opts.name, err: stats.lastError, retryInMs: delay, attempt: backoff.attempts }, 'kubernetes list/watch failed; keeping the cache and retrying');
    later(delay, () => lw.start().catch(failed));
  };
  lw.on('error', failed);

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      lw.start().catch(failed);
    },
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await lw.stop();
      syncedWaiters = [];
    },
    list: () => lw.list(),
    get synced() {
      return synced;
    },
    whenSynced() {
      return synced ? Promise.resolve() : new Promise<void>((r) => syncedWaiters.push(r));
    },
    get stats() {
      return stats;
    },
  };
}
