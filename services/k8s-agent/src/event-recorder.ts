import type { Logger } from 'pino';
import type { Issue } from './claims.ts';
import type { KubeApi, KubeEvent } from './kube-api.ts';

export interface EventRecorderOptions {
  api: KubeApi;
  logger: Logger;
  /** `reportingInstance` of every Event (the agent id, or the pod name). */
  instance: string;
  perSecond: number;
  burst: number;
}

export interface EventRecorderStats {
  created: number;
  failed: number;
  pending: number;
}

export interface EventRecorder {
  /**
   * The complete set of current issues. An issue not reported yet gets one Warning Event (queued,
   * rate limited); one that went away is forgotten, so that it is reported again if it comes back.
   */
  sync(issues: Issue[]): void;
  stop(): void;
  readonly stats: Readonly<EventRecorderStats>;
}

const MAX_ATTEMPTS = 3;
const MAX_MESSAGE = 1024;
const CONCURRENCY = 4;

const keyOf = (i: Issue): string => `${i.ingress.uid}|${i.reason}|${i.host ?? ''}|${i.message}`;

/**
 * Warning Events on Ingresses, once per issue and gently: a token bucket (`burst`, then
 * `perSecond`) bounds what the agent writes to the API server however many Ingresses are wrong at
 * once, as client-go's event broadcaster does.
 */
export function createEventRecorder(opts: EventRecorderOptions): EventRecorder {
  const { api, logger } = opts;
  const stats: EventRecorderStats = { created: 0, failed: 0, pending: 0 };
  /** Issues reported (or queued) and still current. */
  let current = new Set<string>();
  const queue = new Map<string, { issue: Issue; attempts: number }>();
  let tokens = opts.burst;
  let refilledAt = Date.now();
  let inFlight = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let seq = 0;

  const refill = (): void => {
    const now = Date.now();
    tokens = Math.min(opts.burst, tokens + ((now - refilledAt) / 1000) * opts.perSecond);
    refilledAt = now;
  };

  const eventFor = (issue: Issue): KubeEvent => {
    const now = new Date();
    const stamp = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const suffix = `${now.getTime().toString(16)}${(seq++ % 4096).toString(16).padStart(3, '0')}`;
    return {
      metadata: { name: `${issue.ingress.name.slice(0, 253 - suffix.length - 1)}.${suffix}`, namespace: issue.ingress.namespace },
      involvedObject: {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        name: issue.ingress.name,
        namespace: issue.ingress.namespace,
        uid: issue.ingress.uid,
        resourceVersion: issue.ingress.resourceVersion,
      },
      reason: issue.reason,
      message: issue.message.length > MAX_MESSAGE ? `${issue.message.slice(0, MAX_MESSAGE - 1)}…` : issue.message,
      type: 'Warning',
      source: { component: 'sluice-agent' },
      reportingComponent: 'sluice.dev/agent',
      reportingInstance: opts.instance,
      firstTimestamp: stamp,
      lastTimestamp: stamp,
      count: 1,
    };
  };

  const pump = (): void => {
    if (stopped) return;
    refill();
    for (const [key, entry] of queue) {
      if (inFlight >= CONCURRENCY) return;
      if (tokens < 1) break;
      tokens -= 1;
      queue.delete(key);
      inFlight++;
      api.createEvent(entry.issue.ingress.namespace, eventFor(entry.issue)).then(
        () => {
          stats.created++;
          logger.info({ ingress: `${entry.issue.ingress.namespace}/${entry.issue.ingress.name}`, reason: entry.issue.reason, host: entry.issue.host }, 'event recorded');
        },
        (err: unknown) => {
          entry.attempts++;
          if (entry.attempts < MAX_ATTEMPTS && current.has(key)) queue.set(key, entry);
          else stats.failed++;
          logger.warn({ ingress: `${entry.issue.ingress.namespace}/${entry.issue.ingress.name}`, reason: entry.issue.reason, err: (err as Error).message.split('\n')[0], attempts: entry.attempts }, 'could not create event');
        },
      ).finally(() => {
        inFlight--;
        stats.pending = queue.size + inFlight;
        schedule();
      });
    }
    stats.pending = queue.size + inFlight;
    schedule();
  };

  const schedule = (): void => {
    if (stopped || timer || queue.size === 0 || inFlight >= CONCURRENCY) return;
    const wait = tokens >= 1 ? 0 : Math.ceil(((1 - tokens) / opts.perSecond) * 1000);
    timer = setTimeout(() => {
      timer = undefined;
      pump();
    }, wait);
    timer.unref();
  };

  return {
    sync(issues) {
      const next = new Set<string>();
      for (const issue of issues) {
        const key = keyOf(issue);
        next.add(key);
        if (!current.has(key)) queue.set(key, { issue, attempts: 0 });
      }
      for (const key of queue.keys()) if (!next.has(key)) queue.delete(key);
      current = next;
      pump();
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      queue.clear();
    },
    get stats() {
      return stats;
    },
  };
}
