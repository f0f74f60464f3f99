import type { Logger } from 'pino';
import type { IngressView, LoadBalancerEntry } from './ingress-view.ts';
import type { KubeApi } from './kube-api.ts';
import { statusOf } from '@sluice/kube';

export interface StatusWriterOptions {
  api: KubeApi;
  logger: Logger;
  /**
   * The same status is not written twice for one Ingress within this time: if another controller
   * (ingress-nginx's own status updater, say) keeps writing its address, the two do not race.
   */
  rewriteAfterMs: number;
}

export interface StatusWriterStats {
  written: number;
  failed: number;
}

export interface StatusWriter {
  /**
   * Brings each Ingress's status.loadBalancer.ingress to what is wanted. `wanted` names every
   * Ingress whose status the agent cares about; the rest are forgotten.
   */
  sync(wanted: Array<{ ingress: IngressView; entries: LoadBalancerEntry[] }>): void;
  /** The same for one Ingress whose status (only) changed. */
  check(ingress: IngressView, entries: LoadBalancerEntry[]): void;
  stop(): void;
  readonly stats: Readonly<StatusWriterStats>;
}

const CONCURRENCY = 16;

const same = (a: LoadBalancerEntry[], b: LoadBalancerEntry[]): boolean =>
  a.length === b.length && a.every((e, i) => e.hostname === b[i]!.hostname && e.ip === b[i]!.ip);

/**
 * Writes status.loadBalancer.ingress of Ingresses (a merge patch on the status subresource), a few
 * at a time, only when it differs from what the cache shows, and never the same value to the same
 * Ingress twice within `rewriteAfterMs`.
 */
export function createStatusWriter(opts: StatusWriterOptions): StatusWriter {
  const { api, logger } = opts;
  const stats: StatusWriterStats = { written: 0, failed: 0 };
  const lastWrite = new Map<string, { key: string; at: number }>();
  const queue = new Map<string, { ingress: IngressView; entries: LoadBalancerEntry[] }>();
  let inFlight = 0;
  let stopped = false;

  const pump = (): void => {
    for (const [uid, job] of queue) {
      if (stopped || inFlight >= CONCURRENCY) return;
      queue.delete(uid);
      inFlight++;
      const { namespace, name } = job.ingress.metadata;
      api.patchIngressStatus(namespace, name, job.entries).then(
        () => {
          stats.written++;
          logger.debug({ ingress: `${namespace}/${name}`, loadBalancer: job.entries }, 'ingress status written');
        },
        (err: unknown) => {
          lastWrite.delete(uid);
          if (statusOf(err) === 404) return; // deleted meanwhile
          stats.failed++;
          logger.warn({ ingress: `${namespace}/${name}`, err: (err as Error).message.split('\n')[0] }, 'could not write ingress status');
        },
      ).finally(() => {
        inFlight--;
        pump();
      });
    }
  };

  const want = (ingress: IngressView, entries: LoadBalancerEntry[], now: number): void => {
    const uid = ingress.metadata.uid;
    if (same(ingress.status.loadBalancer, entries)) {
      queue.delete(uid);
      return;
    }
    const key = JSON.stringify(entries);
    const prev = lastWrite.get(uid);
    if (prev && prev.key === key && now - prev.at < opts.rewriteAfterMs) return;
    lastWrite.set(uid, { key, at: now });
    queue.set(uid, { ingress, entries });
  };

  return {
    sync(wanted) {
      const now = Date.now();
      const live = new Set<string>();
      for (const { ingress, entries } of wanted) {
        live.add(ingress.metadata.uid);
        want(ingress, entries, now);
      }
      for (const uid of lastWrite.keys()) if (!live.has(uid)) lastWrite.delete(uid);
      pump();
    },
    check(ingress, entries) {
      want(ingress, entries, Date.now());
      pump();
    },
    stop() {
      stopped = true;
      queue.clear();
    },
    get stats() {
      return stats;
    },
  };
}
