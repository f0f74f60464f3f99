import { readFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import type { RegisterReply } from '@sluice/contracts';
import { createAgent, type ClaimSourceMap } from '@sluice/agent';
import { planClaims, refusalIssues, type AgentRule, type ClaimPlan } from './claims.ts';
import { ensureClusterIssuer, type IssuerName, type IssuerOutcome } from './cluster-issuers.ts';
import type { KubeAgentConfig } from './config.ts';
import { createEventRecorder, type EventRecorderStats } from './event-recorder.ts';
import { sameClaimInputs, toIngressClassView, toIngressView, type IngressClassView, type IngressView, type LoadBalancerEntry } from './ingress-view.ts';
import { createKubeApi, type KubeApi } from './kube-api.ts';
import { Backoff, createResourceInformer, type InformerStats, type KubeConnection } from '@sluice/kube';
import { createStatusWriter, type StatusWriterStats } from './status-writer.ts';

/** What the Kubernetes agent needs of the tunnel agent (`@sluice/agent`'s createAgent). */
export interface TunnelAgent {
  start(): Promise<RegisterReply>;
  stop(): Promise<void>;
  setIngress(rules: AgentRule[], sources?: ClaimSourceMap): Promise<RegisterReply>;
  readonly agentId: string | undefined;
}

export interface KubeAgentDeps {
  nc: NatsConnection;
  /** For the tunnel agent's heartbeats, when given (a connection that tunnel bytes never congest). */
  controlNc?: NatsConnection;
  logger: Logger;
  tracer?: Tracer;
  /** Where the Kubernetes API is and how to authenticate: `loadKubeConnection()`, or a client-node KubeConfig. */
  kube: KubeConnection;
  metrics?: Registry;
  /** The API calls; by default made over `kube`. */
  api?: KubeApi;
}

export interface KubeAgentSnapshot {
  ready: boolean;
  tunnelAddress: string | undefined;
  /** Hosts the registry accepted in the last registration. */
  claimed: string[];
  refused: RegisterReply['refused'];
  issues: number;
  lastRegistrationError: string | undefined;
  informers: { ingresses: InformerStats; ingressClasses: InformerStats };
  events: EventRecorderStats;
  status: StatusWriterStats;
  clusterIssuers: Partial<Record<IssuerName, IssuerOutcome>>;
}

export interface KubeAgent {
  /** Lists Ingresses (waiting for the API server as long as it takes), registers, then follows changes. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Synced and registered once (stays true while the API server is away: the agent serves what it knows). */
  readonly ready: boolean;
  readonly agentId: string | undefined;
  readonly tunnelAddress: string | undefined;
  snapshot(): KubeAgentSnapshot;
}

const RESYNC_MS = 60_000;
const STATUS_REWRITE_MS = 30_000;
const ISSUERS: IssuerName[] = ['letsencrypt', 'letsencrypt-staging'];

/** What the tunnel agent's heartbeats name as the agent software (the dashboard shows it). */
const VERSION = `sluice-k8s-agent/${(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version}`;

/** Each claimed host's Ingresses, for the registry (the dashboard shows a claim's `namespace/name`). */
function claimSourcesOf(p: ClaimPlan): ClaimSourceMap {
  const out = new Map<string, Array<{ kind: 'ingress'; namespace: string; name: string }>>();
  for (const [host, refs] of p.ownersOf) out.set(host, refs.map((r) => ({ kind: 'ingress', namespace: r.namespace, name: r.name })));
  return out;
}

/** What a registration sends: the rules and which Ingresses each host comes from (a change of either re-registers). */
const registrationKey = (p: ClaimPlan): string =>
  JSON.stringify([p.rules, [...p.ownersOf].map(([host, refs]) => [host, refs.map((r) => `${r.namespace}/${r.name}`)])]);

/**
 * The Kubernetes agent: informers on Ingresses and IngressClasses; on every change (coalesced over
 * `settleMs`) it plans which hosts to claim, re-registers the tunnel agent with rules that send them
 * to the Ingress controller, writes the tunnel address into the served Ingresses' status, and
 * reports each host it does not serve as a Warning Event on its Ingress. It also keeps the
 * cert-manager ClusterIssuers `letsencrypt` and `letsencrypt-staging` when cert-manager is there.
 */
export function createKubeAgent(config: KubeAgentConfig, deps: KubeAgentDeps): KubeAgent {
  const { nc, kube } = deps;
  const logger = deps.logger.child({ component: 'k8s' });
  const api = deps.api ?? createKubeApi(kube, config.requestTimeoutMs);
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  let ready = false;
  let stopSignal: () => void = () => undefined;
  const whenStopped = new Promise<void>((r) => (stopSignal = r));

  let tunnel: TunnelAgent | undefined;
  let tunnelAddress: string | undefined;
  let sentKey: string | undefined;
  let accepted = new Set<string>();
  let refused: RegisterReply['refused'] = [];
  let issueCount = 0;
  let lastRegistrationError: string | undefined;
  const issuerOutcomes: Partial<Record<IssuerName, IssuerOutcome>> = {};
  const registrationBackoff = new Backoff(config.backoff.initialMs, config.backoff.maxMs);
  const issuerBackoff = new Backoff(config.backoff.initialMs, config.backoff.maxMs);

  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    timers.add(t);
  };

  // ---- reconcile: coalesced, one at a time -------------------------------------------------
  let settleTimer: NodeJS.Timeout | undefined;
  let running = false;
  let dirty = false;
  const schedule = (delay = config.settleMs): void => {
    if (!ready || stopped || settleTimer) return;
    settleTimer = setTimeout(() => {
      settleTimer = undefined;
      void run();
    }, delay);
  };
  const run = async (): Promise<void> => {
    if (running) {
      dirty = true;
      return;
    }
    running = true;
    try {
      await reconcile();
    } catch (err) {
      logger.error({ err }, 'reconcile failed');
    } finally {
      running = false;
      if (dirty) {
        dirty = false;
        schedule();
      }
    }
  };

  const informerBase = {
    kube,
    pageSize: config.listPageSize,
    watchTimeoutSeconds: config.watchTimeoutSeconds,
    backoff: config.backoff,
    logger,
  };
  /** The last view of each Ingress, to tell a status-only update (the agent's own writes among them) from one that changes claims. */
  const lastSeen = new Map<string, IngressView>();
  /** Ingresses with a host the registry accepted, as of the last reconcile. */
  let servedUids = new Set<string>();
  const ingresses = createResourceInformer<IngressView>({
    ...informerBase,
    onChange: (c) => {
      if (c.type === 'delete') lastSeen.delete(c.object.metadata.uid);
      else if (c.type !== 'list') {
        const prev = lastSeen.get(c.object.metadata.uid);
        lastSeen.set(c.object.metadata.uid, c.object);
        if (c.type === 'update' && prev && sameClaimInputs(prev, c.object)) {
          statusOnly(c.object);
          return;
        }
      }
      schedule();
    },
    name: 'ingresses',
    path: '/apis/networking.k8s.io/v1/ingresses',
    listPage: (limit, token) => api.listIngresses(limit, token),
    transform: toIngressView,
  });
  const ingressClasses = createResourceInformer<IngressClassView>({
    ...informerBase,
    onChange: () => schedule(),
    name: 'ingressclasses',
    path: '/apis/networking.k8s.io/v1/ingressclasses',
    listPage: (limit, token) => api.listIngressClasses(limit, token),
    transform: toIngressClassView,
  });
  const events = createEventRecorder({ api, logger, instance: config.agentId ?? 'sluice-agent', perSecond: config.eventsPerSecond, burst: config.eventBurst });
  const status = createStatusWriter({ api, logger, rewriteAfterMs: STATUS_REWRITE_MS });

  const plan = (): ClaimPlan =>
    planClaims({ ingresses: ingresses.list(), classes: ingressClasses.list(), config });

  const statusHostname = (): string | undefined => config.statusHostname ?? tunnelAddress;

  /** The status an Ingress should have: the tunnel address alone if served, else without it; undefined = leave. */
  const wantedStatus = (ing: IngressView, served: boolean, mine: string): LoadBalancerEntry[] | undefined => {
    const lb = ing.status.loadBalancer;
    if (served) return [{ hostname: mine }];
    if (lb.some((e) => e.hostname === mine)) return lb.filter((e) => e.hostname !== mine);
    return undefined;
  };

  /** Events for what is not served, and status for what is, from a plan and the registry's answer. */
  const publish = (p: ClaimPlan): void => {
    const issues = [...p.issues, ...refusalIssues(p, refused)];
    issueCount = issues.length;
    events.sync(issues);
    const served = new Set<string>();
    for (const [uid, hosts] of p.hostsOf) if (hosts.some((h) => accepted.has(h))) served.add(uid);
    servedUids = served;
    const mine = statusHostname();
    if (!mine) return;
    const wanted: Array<{ ingress: IngressView; entries: LoadBalancerEntry[] }> = [];
    for (const ing of ingresses.list()) {
      const entries = wantedStatus(ing, served.has(ing.metadata.uid), mine);
      if (entries) wanted.push({ ingress: ing, entries });
    }
    status.sync(wanted);
  };

  /** An Ingress whose status alone changed (the agent's own write, or another controller's): no re-plan. */
  const statusOnly = (ing: IngressView): void => {
    const mine = statusHostname();
    if (!ready || !mine) return;
    const entries = wantedStatus(ing, servedUids.has(ing.metadata.uid), mine);
    if (entries) status.check(ing, entries);
  };

  const accept = (reply: RegisterReply): void => {
    accepted = new Set(reply.accepted);
    refused = reply.refused;
    lastRegistrationError = undefined;
    registrationBackoff.reset();
  };

  const reconcile = async (): Promise<void> => {
    const p = plan();
    const key = registrationKey(p);
    if (key !== sentKey && tunnel) {
      try {
        const reply = await tunnel.setIngress(p.rules, claimSourcesOf(p));
        sentKey = key;
        accept(reply);
        logger.info({ claimed: reply.accepted.length, refused: reply.refused.length, issues: p.issues.length }, 'claims registered');
      } catch (err) {
        lastRegistrationError = (err as Error).message;
        const delay = registrationBackoff.next();
        logger.warn({ err: lastRegistrationError, retryInMs: delay }, 'could not register claims; the registry keeps the previous ones; retrying');
        later(delay, () => schedule(0));
      }
    }
    publish(p);
  };

  // ---- cert-manager ClusterIssuers ---------------------------------------------------------
  const issuerClass = (): string => {
    if (config.clusterIssuers.ingressClassName) return config.clusterIssuers.ingressClassName;
    if (config.ingressClass !== '*') return config.ingressClass;
    return ingressClasses.list().find((c) => c.isDefault)?.metadata.name ?? 'nginx';
  };
  const ensureIssuers = async (): Promise<void> => {
    let next = config.clusterIssuers.recheckMs;
    try {
      if (!(await api.servesGroupVersion('cert-manager.io/v1'))) {
        logger.info({ recheckMs: next }, 'cert-manager.io/v1 is not served (cert-manager not installed): no ClusterIssuers');
      } else {
        const settings = { ingressClassName: issuerClass(), ...(config.clusterIssuers.email ? { email: config.clusterIssuers.email } : {}) };
        for (const name of ISSUERS) issuerOutcomes[name] = await ensureClusterIssuer(api, name, settings, logger);
      }
      issuerBackoff.reset();
    } catch (err) {
      next = issuerBackoff.next();
      logger.warn({ err: (err as Error).message.split('\n')[0], retryInMs: next }, 'could not ensure ClusterIssuers; retrying');
    }
    later(next, () => void ensureIssuers());
  };

  // ---- metrics -----------------------------------------------------------------------------
  if (deps.metrics) {
    const gauge = (name: string, help: string, value: () => number): void => {
      new Gauge({ name, help, registers: [deps.metrics!], collect() { this.set(value()); } });
    };
    gauge('sluice_k8s_claimed_hosts', 'Hosts from Ingresses the registry accepted', () => accepted.size);
    gauge('sluice_k8s_ingress_issues', 'Ingress hosts not served (each reported as an Event)', () => issueCount);
    gauge('sluice_k8s_informer_errors', 'Kubernetes list/watch failures since start', () => ingresses.stats.errors + ingressClasses.stats.errors);
    gauge('sluice_k8s_events_created', 'Kubernetes Events created since start', () => events.stats.created);
  }

  return {
    get ready() {
      return ready;
    },
    get agentId() {
      return tunnel?.agentId;
    },
    get tunnelAddress() {
      return tunnelAddress;
    },
    async start() {
      ingresses.start();
      ingressClasses.start();
      await Promise.race([Promise.all([ingresses.whenSynced(), ingressClasses.whenSynced()]), whenStopped]);
      if (stopped) return;
      const first = plan();
      const t = createAgent(
        {
          nats: [],
          token: config.token,
          ...(config.agentId ? { agentId: config.agentId } : {}),
          ...(config.credentials ? { credentials: config.credentials } : {}),
          transport: config.transport,
          // the registry's answer then names the agent's tunnel address (its generated hostname)
          generate: true,
          ingress: first.rules,
          heartbeatMs: config.heartbeatMs,
          graceMs: config.graceMs,
          releaseOnStop: false,
          ...(config.publicAddress ? { publicAddress: config.publicAddress } : {}),
        },
        {
          nc,
          logger: deps.logger,
          version: VERSION,
          claimSources: claimSourcesOf(first),
          ...(deps.controlNc ? { controlNc: deps.controlNc } : {}),
          ...(deps.tracer ? { tracer: deps.tracer } : {}),
          ...(deps.metrics ? { metrics: deps.metrics } : {}),
        },
      );
      tunnel = t;
      const reply = await t.start();
      const requested = new Set(first.rules.flatMap((r) => (r.hostname ? [r.hostname] : [])));
      tunnelAddress = reply.accepted.find((h) => !requested.has(h) && !h.startsWith('*.'));
      sentKey = registrationKey(first);
      accept(reply);
      ready = true;
      logger.info({ agentId: t.agentId, tunnelAddress, ingresses: ingresses.list().length, claimed: reply.accepted.length }, 'kubernetes agent ready');
      // events and status for what the first registration decided (and anything changed since)
      await run();
      if (config.clusterIssuers.enabled) void ensureIssuers();
      // events and status again from the cache (a failed write is retried here); registration only on change
      const resync = (): void => {
        schedule(0);
        later(RESYNC_MS, resync);
      };
      later(RESYNC_MS, resync);
    },
    async stop() {
      stopped = true;
      ready = false;
      stopSignal();
      if (settleTimer) clearTimeout(settleTimer);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      events.stop();
      status.stop();
      await Promise.all([ingresses.stop(), ingressClasses.stop()]);
      await tunnel?.stop();
    },
    snapshot() {
      return {
        ready,
        tunnelAddress,
        claimed: [...accepted],
        refused,
        issues: issueCount,
        lastRegistrationError,
        informers: { ingresses: { ...ingresses.stats }, ingressClasses: { ...ingressClasses.stats } },
        events: { ...events.stats },
        status: { ...status.stats },
        clusterIssuers: { ...issuerOutcomes },
      };
    },
  };
}
