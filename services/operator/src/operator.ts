import { timingSafeEqual } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { context, trace, SpanStatusCode, type Span, type Tracer } from '@opentelemetry/api';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { devCodecs, devSubjects, type DevEvent, type DevEventKind, type InterceptStatus, type TunnelReportReply } from '@sluice/contracts';
import { traceHeaders } from '@sluice/telemetry';
import { buildTunnelApi, TunnelApiError, type TunnelApi, type TunnelReport } from './api.ts';
import type { OperatorConfig } from './config.ts';
import { createKubeClient, createResourceInformer, Backoff, kubePaths, kubeStatusOf, type Intercept, type KubeConnection, type TypedListPage, type ResourceInformer } from '@sluice/kube';
import { reconcileIntercept, RetryLater, type LiveTunnel } from './reconciler.ts';
import { hashTunnelToken, tunnelDeploymentName } from './tunnel-pod.ts';

export interface OperatorDeps {
  /** The Kubernetes API server (kubeconfig or the pod's service account: `loadKubeConnection`). */
  kube: KubeConnection;
  logger: Logger;
  /** Where the operator announces intercept changes (`sluice.events.dev.*`); none without it. */
  nc?: NatsConnection;
  metrics?: Registry;
  tracer?: Tracer;
  now?: () => number;
}

export interface OperatorSnapshot {
  intercepts: Array<{ namespace: string; name: string; tunnelId?: string; phase?: string; serviceTarget?: string }>;
  tunnels: Record<string, { state: string; timedOut: boolean; lastReportAgoMs: number }>;
}

export interface Operator {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly ready: boolean;
  /** The REST API's ports once started, in the order of `config.api.ports`. */
  apiPorts(): number[];
  snapshot(): OperatorSnapshot;
}

/** What the informers keep of an Intercept: what the REST API checks reports against, and what the queue needs. */
interface InterceptRef {
  metadata: { name: string; namespace: string; uid: string; resourceVersion: string };
  tunnelId?: string;
  tunnelTokenHash?: string;
  phase?: string;
  serviceTarget?: 'original' | 'tunnel';
}

const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;

function toRef(o: unknown): InterceptRef {
  const ic = o as Intercept;
  const st: Partial<InterceptStatus> = typeof ic.status === 'object' && ic.status !== null ? ic.status : {};
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  return {
    metadata: { name: ic.metadata.name, namespace: ic.metadata.namespace ?? '', uid: ic.metadata.uid ?? '', resourceVersion: ic.metadata.resourceVersion ?? '' },
    ...(str(st.tunnelId) ? { tunnelId: st.tunnelId } : {}),
    ...(str(st.tunnelTokenHash) ? { tunnelTokenHash: st.tunnelTokenHash } : {}),
    ...(str(st.phase) ? { phase: st.phase } : {}),
    ...(st.serviceTarget === 'tunnel' || st.serviceTarget === 'original' ? { serviceTarget: st.serviceTarget } : {}),
  };
}

/**
 * The developer-mode operator: reconciles Intercepts in the namespaces it serves (a tunnel pod per
 * Intercept; the Service's selector on the tunnel pod while it reports connected, on its own pods
 * otherwise) and serves the REST API the tunnel pods report to. One work queue, one Intercept at a
 * time: the Service is the lock between Intercepts, and no two writes of this process race.
 */
export function createOperator(config: OperatorConfig, deps: OperatorDeps): Operator {
  const { logger } = deps;
  const now = deps.now ?? Date.now;
  const tracer = deps.tracer ?? trace.getTracer('sluice-operator');
  const kube = createKubeClient(deps.kube);
  const live = new Map<string, LiveTunnel>();
  const informers = new Map<string, ResourceInformer<InterceptRef & { metadata: { name: string } }>>();
  const dirty = new Set<string>();
  const retryTimers = new Map<string, NodeJS.Timeout>();
  const backoffs = new Map<string, Backoff>();
  const startedAt = now();
  let working: Promise<void> | undefined;
  let api: TunnelApi | undefined;
  let ports: number[] = [];
  let sweep: NodeJS.Timeout | undefined;
  let resync: NodeJS.Timeout | undefined;
  let stopped = false;
  let listening = false;
  let currentSpan: Span | undefined;

  const reg = deps.metrics;
  const metrics = reg
    ? {
        reports: new Counter({ name: 'sluice_operator_tunnel_reports_total', help: 'Reports of tunnel pods: status changes and heartbeats, by result (ok or the refusal code)', labelNames: ['kind', 'result'], registers: [reg] }),
        reconciles: new Counter({ name: 'sluice_operator_reconciles_total', help: 'Intercepts reconciled, by result: ok, retry (waiting for something), error', labelNames: ['result'], registers: [reg] }),
        reconcileSeconds: new Histogram({ name: 'sluice_operator_reconcile_seconds', help: 'Time to reconcile one Intercept', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers: [reg] }),
        switches: new Counter({ name: 'sluice_operator_service_switches_total', help: 'Service selectors switched, by target: tunnel (the developer) or original (the Service\'s own pods)', labelNames: ['target'], registers: [reg] }),
        timeouts: new Counter({ name: 'sluice_operator_heartbeat_timeouts_total', help: 'Tunnel pods that stopped reporting within the heartbeat timeout', registers: [reg] }),
      }
    : undefined;
  if (reg) {
    new Gauge({
      name: 'sluice_operator_intercepts',
      help: 'Intercepts in the namespaces served, by phase',
      labelNames: ['phase'],
      registers: [reg],
      collect() {
        this.reset();
        for (const r of refs()) this.inc({ phase: r.phase ?? 'Pending' });
      },
    });
    new Gauge({
      name: 'sluice_operator_tunnels_connected',
      help: 'Tunnel pods reporting connected within the heartbeat timeout',
      registers: [reg],
      collect() {
        this.set([...live.values()].filter((l) => l.state === 'connected' && !l.timedOut).length);
      },
    });
  }

  const refs = (): InterceptRef[] => [...informers.values()].flatMap((i) => [...i.list()]);
  const refByTunnel = (tunnelId: string): InterceptRef | undefined => refs().find((r) => r.tunnelId === tunnelId);

  const emit = (kind: DevEventKind, ic: Intercept, reason?: string): void => {
    const nc = deps.nc;
    if (!nc || nc.isClosed()) return;
    const ev: DevEvent = {
      v: 1,
      kind,
      ts: now(),
      namespace: ic.metadata.namespace ?? '',
      name: ic.metadata.name,
      service: String(ic.spec?.service ?? '').slice(0, 63),
      ...(typeof ic.spec?.holder === 'string' ? { holder: ic.spec.holder.slice(0, 64) } : {}),
      ...(ic.status?.tunnelId ? { tunnelId: ic.status.tunnelId } : {}),
      ...(reason ? { reason: reason.slice(0, 1024) } : {}),
    };
    if (!devCodecs.devEvent.check(ev)) {
      logger.warn({ kind, intercept: ic.metadata.name }, 'dev event not sent: it does not fit its schema');
      return;
    }
    const h = currentSpan ? traceHeaders(trace.setSpan(context.active(), currentSpan)) : undefined;
    nc.publish(devSubjects.event(kind), devCodecs.devEvent.encode(ev), h ? { headers: h } : undefined);
  };

  const schedule = (key: string, ms: number): void => {
    if (stopped || retryTimers.has(key)) return;
    retryTimers.set(
      key,
      setTimeout(() => {
        retryTimers.delete(key);
        enqueue(key);
      }, ms),
    );
  };

  const reconcileOne = async (key: string): Promise<void> => {
    const slash = key.indexOf('/');
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const span = tracer.startSpan('operator.reconcile', { attributes: { 'k8s.namespace.name': namespace, 'sluice.intercept': name } });
    currentSpan = span;
    const t0 = performance.now();
    try {
      await reconcileIntercept(namespace, name, {
        kube,
        config,
        logger,
        now,
        live,
        emit,
        onSwitch: (target) => metrics?.switches.inc({ target }),
      });
      backoffs.delete(key);
      metrics?.reconciles.inc({ result: 'ok' });
    } catch (err) {
      if (err instanceof RetryLater) {
        metrics?.reconciles.inc({ result: 'retry' });
        schedule(key, err.ms);
      } else {
        let b = backoffs.get(key);
        if (!b) backoffs.set(key, (b = new Backoff(kubeStatusOf(err) === 409 ? 50 : 250, 10_000)));
        const delay = b.next();
        metrics?.reconciles.inc({ result: 'error' });
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
        logger.warn({ intercept: key, err: (err as Error).message, retryInMs: delay }, 'reconcile failed; retrying');
        schedule(key, delay);
      }
    } finally {
      currentSpan = undefined;
      metrics?.reconcileSeconds.observe((performance.now() - t0) / 1000);
      span.end();
    }
  };

  const drain = async (): Promise<void> => {
    while (dirty.size > 0 && !stopped) {
      const key = dirty.values().next().value as string;
      dirty.delete(key);
      await reconcileOne(key);
    }
  };

  const enqueue = (key: string): void => {
    if (stopped) return;
    dirty.add(key);
    working ??= drain().finally(() => {
      working = undefined;
      if (dirty.size > 0) enqueue(dirty.values().next().value as string);
    });
  };

  const report = (tunnelId: string, token: string, r: TunnelReport): TunnelReportReply => {
    try {
      const ref = refByTunnel(tunnelId);
      if (!ref) {
        throw new TunnelApiError('SLUICE_UNKNOWN_TUNNEL', `no Intercept has tunnel id "${tunnelId}" in the namespaces this operator serves (${config.namespaces.join(', ')}): it was deleted, or the id is wrong`, 404);
      }
      const want = Buffer.from(ref.tunnelTokenHash ?? '', 'hex');
      const got = Buffer.from(hashTunnelToken(token), 'hex');
      if (want.length !== got.length || !timingSafeEqual(want, got)) {
        throw new TunnelApiError('SLUICE_FORBIDDEN', `this token is not tunnel ${tunnelId}'s: a tunnel pod reports only for its own Intercept (${ref.metadata.namespace}/${ref.metadata.name})`, 403);
      }
      const prefix = `${tunnelDeploymentName(ref.metadata.name)}-`;
      if (!r.pod.startsWith(prefix)) {
        throw new TunnelApiError('SLUICE_FORBIDDEN', `pod "${r.pod}" is not a pod of tunnel ${tunnelId}: its pods are named ${prefix}…`, 403);
      }
      const prev = live.get(tunnelId);
      const next: LiveTunnel = {
        state: r.state,
        lastReport: now(),
        timedOut: false,
        everConnected: (prev?.everConnected ?? false) || r.state === 'connected',
        pod: r.pod,
        ...(r.activeConnections !== undefined ? { activeConnections: r.activeConnections } : prev?.activeConnections !== undefined ? { activeConnections: prev.activeConnections } : {}),
        ...(r.state === 'disconnected' ? { reason: r.reason ?? prev?.reason ?? 'the tunnel pod reported disconnected' } : {}),
      };
      live.set(tunnelId, next);
      const changed = !prev || prev.state !== next.state || prev.timedOut || (r.kind === 'status' && prev.reason !== next.reason);
      if (changed) {
        logger.info({ tunnelId, intercept: keyOf(ref.metadata.namespace, ref.metadata.name), pod: r.pod, state: r.state, reason: next.reason, via: r.kind }, 'tunnel state');
        enqueue(keyOf(ref.metadata.namespace, ref.metadata.name));
      }
      metrics?.reports.inc({ kind: r.kind, result: 'ok' });
      // where the Service pointed when this report arrived (a switch it causes follows at once)
      return { v: 1, tunnelId, state: r.state, serviceTarget: ref.serviceTarget ?? 'original', heartbeatTimeoutMs: config.heartbeatTimeoutMs };
    } catch (err) {
      metrics?.reports.inc({ kind: r.kind, result: err instanceof TunnelApiError ? err.code.replace(/^SLUICE_/, '').toLowerCase() : 'error' });
      throw err;
    }
  };

  const synced = (): boolean => informers.size === config.namespaces.length && [...informers.values()].every((i) => i.synced);

  return {
    get ready() {
      return listening && synced() && !stopped;
    },
    apiPorts: () => ports,
    snapshot() {
      const t = now();
      return {
        intercepts: refs().map((r) => ({ namespace: r.metadata.namespace, name: r.metadata.name, ...(r.tunnelId ? { tunnelId: r.tunnelId } : {}), ...(r.phase ? { phase: r.phase } : {}), ...(r.serviceTarget ? { serviceTarget: r.serviceTarget } : {}) })),
        tunnels: Object.fromEntries([...live].map(([id, l]) => [id, { state: l.state, timedOut: l.timedOut, lastReportAgoMs: t - l.lastReport }])),
      };
    },
    async start() {
      for (const namespace of config.namespaces) {
        const informer = createResourceInformer<InterceptRef>({
          name: `intercepts/${namespace}`,
          kube: deps.kube,
          path: kubePaths.intercepts(namespace),
          listPage: (limit, token) => kube.call<TypedListPage<unknown>>('GET', kubePaths.intercepts(namespace), { query: { limit, continue: token } }),
          transform: toRef,
          pageSize: 500,
          watchTimeoutSeconds: 300,
          backoff: { initialMs: 250, maxMs: 10_000 },
          logger,
          onChange: (c) => {
            if (c.type === 'list') for (const r of informer.list()) enqueue(keyOf(r.metadata.namespace, r.metadata.name));
            else enqueue(keyOf(c.object.metadata.namespace, c.object.metadata.name));
          },
        });
        informers.set(namespace, informer);
        informer.start();
      }
      await Promise.all([...informers.values()].map((i) => i.whenSynced()));
      api = await buildTunnelApi({ ready: () => synced() && !stopped, report }, { bodyLimit: config.api.bodyLimitBytes, metrics: reg }, logger);
      ports = await api.listen(config.api.host, config.api.ports);
      listening = true;
      let lastSweep = now();
      sweep = setInterval(() => {
        const t = now();
        // a stalled process has reports waiting unread in its sockets: judge no one on a stale view
        const stalled = t - lastSweep > 1_000;
        lastSweep = t;
        if (stalled) return;
        for (const [id, l] of live) {
          if (l.timedOut || t - l.lastReport <= config.heartbeatTimeoutMs) continue;
          const ref = refByTunnel(id);
          if (!ref) {
            live.delete(id);
            continue;
          }
          l.timedOut = true;
          l.reason = `no report from the tunnel pod for ${config.heartbeatTimeoutMs / 1000} s (heartbeat timeout)`;
          if (l.state === 'connected') {
            metrics?.timeouts.inc();
            logger.warn({ tunnelId: id, intercept: keyOf(ref.metadata.namespace, ref.metadata.name), lastReportAgoMs: t - l.lastReport }, 'tunnel pod heartbeat timeout');
          }
          enqueue(keyOf(ref.metadata.namespace, ref.metadata.name));
        }
      }, 200);
      resync = setInterval(() => {
        for (const r of refs()) enqueue(keyOf(r.metadata.namespace, r.metadata.name));
      }, config.resyncMs);
      logger.info({ namespaces: config.namespaces, apiPorts: ports, heartbeatTimeoutMs: config.heartbeatTimeoutMs, startedAt }, 'operator ready');
    },
    async stop() {
      stopped = true;
      if (sweep) clearInterval(sweep);
      if (resync) clearInterval(resync);
      for (const t of retryTimers.values()) clearTimeout(t);
      retryTimers.clear();
      await api?.close();
      await working;
      await Promise.all([...informers.values()].map((i) => i.stop()));
      logger.info('operator stopped');
    },
  };
}
