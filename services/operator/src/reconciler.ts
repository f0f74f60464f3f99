import type { Logger } from 'pino';
import {
  devAnnotations,
  devCodecs,
  devLabels,
  INTERCEPT_FINALIZER,
  isValidRouteHostname,
  newId,
  type DevEventKind,
  type InterceptPhase,
  type InterceptSpec,
  type InterceptStatus,
  type TunnelState,
} from '@sluice/contracts';
import type { OperatorConfig } from './config.ts';
import { kubePaths, kubeStatusOf, type Deployment, type Intercept, type KubeClient, type Service } from '@sluice/kube';
import { isTunnelSelector, newTunnelToken, tokenOf, tunnelDeployment, tunnelDeploymentName, tunnelSelector } from './tunnel-pod.ts';

/** What the operator knows of a tunnel pod from its reports (in memory; rebuilt from status after a restart). */
export interface LiveTunnel {
  state: TunnelState;
  /** When the last report arrived (or when this operator started, for a tunnel it has not heard yet). */
  lastReport: number;
  reason?: string;
  pod?: string;
  activeConnections?: number;
  /** The heartbeat timeout passed since the last report. */
  timedOut: boolean;
  /** It reported `connected` at least once (or the status says the Service was switched before). */
  everConnected: boolean;
}

export interface ReconcileDeps {
  kube: KubeClient;
  config: OperatorConfig;
  logger: Logger;
  now: () => number;
  /** By tunnel id. */
  live: Map<string, LiveTunnel>;
  emit: (kind: DevEventKind, ic: Intercept, reason?: string) => void;
  onSwitch?: (target: 'tunnel' | 'original') => void;
}

type Selector = Record<string, string>;

const sameSelector = (a: Selector | undefined, b: Selector | undefined): boolean => {
  const ka = Object.keys(a ?? {});
  const kb = Object.keys(b ?? {});
  return ka.length === kb.length && ka.every((k) => a![k] === b?.[k]);
};

const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Brings one Intercept's world to what its spec and its tunnel pod's reports ask for. Level
 * triggered and idempotent: everything it needs after a restart is on the Intercept (status:
 * tunnel id, token hash, original selector) and on the Service (which Intercept holds it).
 */
export async function reconcileIntercept(namespace: string, name: string, deps: ReconcileDeps): Promise<void> {
  const { kube, logger } = deps;
  const ic = await kube.get<Intercept>(kubePaths.intercept(namespace, name));
  if (!ic) {
    // gone for good (its finalizer was released, or it never got one): its pod goes with it
    await removeTunnelDeployment(kube, namespace, name);
    return;
  }
  const status: Partial<InterceptStatus> = ic.status ?? {};
  if (ic.metadata.deletionTimestamp) {
    await finalize(ic, deps);
    return;
  }
  if (!devCodecs.interceptSpec.check(ic.spec)) {
    const first = specProblem(ic.spec);
    await writeStatus(ic, { phase: 'Failed', message: `invalid spec: ${first}` }, deps);
    return;
  }
  const spec: InterceptSpec = ic.spec;
  if (!isValidRouteHostname(spec.hostname)) {
    await writeStatus(ic, { phase: 'Failed', message: `invalid spec: /hostname "${spec.hostname}" is not a valid hostname` }, deps);
    return;
  }
  let current = ic;
  const svc = await kube.get<Service>(kubePaths.service(namespace, spec.service));
  if (!svc) {
    await writeStatus(current, { phase: 'Failed', message: `service ${namespace}/${spec.service} does not exist` }, deps);
    return;
  }
  /** The spec cannot work (any more): a Service this Intercept had switched goes back first. */
  const fail = async (message: string): Promise<void> => {
    if (svc.metadata.annotations?.[devAnnotations.interceptedBy] === name) {
      await releaseService(kube, svc, status.originalSelector ?? parseSelectorAnnotation(svc), name);
      deps.onSwitch?.('original');
    }
    await writeStatus(current, { phase: 'Failed', message, ...(status.serviceTarget ? { serviceTarget: 'original' as const } : {}) }, deps);
  };
  const port = svc.spec?.ports?.find((p) => p.port === spec.port);
  if (!port) {
    const have = (svc.spec?.ports ?? []).map((p) => p.port).join(', ') || 'none';
    return fail(`service ${namespace}/${spec.service} has no port ${spec.port} (its ports: ${have})`);
  }
  if (port.protocol !== undefined && port.protocol !== 'TCP') {
    return fail(`port ${spec.port} of service ${namespace}/${spec.service} is ${port.protocol}; only TCP can be intercepted`);
  }
  const selectorNow = svc.spec?.selector;
  if (!selectorNow || Object.keys(selectorNow).length === 0) {
    return fail(`service ${namespace}/${spec.service} has no selector (its endpoints are managed by hand); only a Service that selects pods can be intercepted`);
  }
  const holderName = svc.metadata.annotations?.[devAnnotations.interceptedBy];
  if (holderName !== undefined && holderName !== name) {
    const other = await kube.get<Intercept>(kubePaths.intercept(namespace, holderName));
    if (other && !other.metadata.deletionTimestamp) {
      const who = other.spec?.holder ?? 'someone';
      const message =
        `service ${namespace}/${spec.service} is already intercepted by ${who}${other.spec?.client ? ` (on ${other.spec.client})` : ''} ` +
        `through Intercept ${holderName}${other.metadata.creationTimestamp ? ` since ${other.metadata.creationTimestamp}` : ''}; ` +
        `${who} ends it with \`sluice dev leave ${spec.service} --namespace ${namespace}\``;
      if (status.phase !== 'Refused') deps.emit('intercept-refused', current, message);
      await writeStatus(current, { phase: 'Refused', message }, deps);
      return;
    }
    if (other) {
      await writeStatus(current, { phase: 'Pending', message: `waiting for Intercept ${holderName} (ending) to give service ${spec.service} back` }, deps);
      throw new RetryLater(1_000);
    }
    // its Intercept vanished without giving the Service back (finalizer removed by hand): do it now
    logger.warn({ namespace, service: spec.service, staleHolder: holderName }, 'service held by an Intercept that no longer exists; restoring it');
    await releaseService(kube, svc, parseSelectorAnnotation(svc), holderName);
    throw new RetryLater(0);
  }

  const targetPort = port.targetPort ?? port.port;

  // the finalizer before the first change: from now on, deleting the Intercept waits until the
  // Service is given back (a refused or failed Intercept has none, and goes at once)
  if (!(current.metadata.finalizers ?? []).includes(INTERCEPT_FINALIZER)) {
    current = await kube.call<Intercept>('PUT', kubePaths.intercept(namespace, name), {
      body: { ...current, metadata: { ...current.metadata, finalizers: [...(current.metadata.finalizers ?? []), INTERCEPT_FINALIZER] } },
    });
  }
  // first claim: the original selector is recorded on the Intercept before anything is changed
  let original = status.originalSelector;
  let tunnelId = status.tunnelId;
  if (!original || !tunnelId) {
    const fromAnnotation = holderName === name ? parseSelectorAnnotation(svc) : undefined;
    original ??= isTunnelSelector(selectorNow) ? fromAnnotation : selectorNow;
    if (!original) {
      await writeStatus(current, { phase: 'Failed', message: `service ${namespace}/${spec.service} selects tunnel pods and its own selector is not recorded anywhere; restore it by hand` }, deps);
      return;
    }
    tunnelId ??= newId(12);
    current = await writeStatus(current, { phase: 'Pending', message: 'claiming the service', originalSelector: original, tunnelId, targetPort, serviceTarget: 'original' }, deps);
  }
  // the claim on the Service (a lock: a second Intercept is refused; replace with resourceVersion)
  let service = svc;
  if (holderName !== name || service.metadata.annotations?.[devAnnotations.originalSelector] !== JSON.stringify(original)) {
    service = await kube.call<Service>('PUT', kubePaths.service(namespace, spec.service), {
      body: { ...service, metadata: { ...service.metadata, annotations: { ...service.metadata.annotations, [devAnnotations.interceptedBy]: name, [devAnnotations.originalSelector]: JSON.stringify(original) } } },
    });
  }

  // the tunnel pod
  const depName = tunnelDeploymentName(name);
  const existing = await kube.get<Deployment>(kubePaths.deployment(namespace, depName));
  let token = existing && existing.metadata.labels?.[devLabels.tunnelId] === tunnelId ? tokenOf(existing) : undefined;
  if (!token) {
    if (existing) await kube.remove(kubePaths.deployment(namespace, depName));
    const fresh = newTunnelToken();
    token = fresh.token;
    // the hash before the pod: a pod never reports with a token the operator cannot check
    current = await writeStatus(current, { tunnelTokenHash: fresh.hash }, deps);
    await kube.call('POST', kubePaths.deployments(namespace), { body: tunnelDeployment({ intercept: current, tunnelId, token, targetPort }, deps.config) });
    logger.info({ namespace, intercept: name, tunnelId, deployment: depName }, 'tunnel pod deployment created');
  } else {
    const want = tunnelDeployment({ intercept: current, tunnelId, token, targetPort }, deps.config);
    if (podDrift(existing!, want)) {
      await kube.call('PUT', kubePaths.deployment(namespace, depName), { body: { ...existing!, spec: want.spec, metadata: { ...existing!.metadata, labels: want.metadata.labels } } });
      logger.info({ namespace, intercept: name, tunnelId }, 'tunnel pod deployment updated');
    }
  }

  // where the Service points: at the tunnel pod while it reports connected, else at its own pods
  const now = deps.now();
  let live = deps.live.get(tunnelId);
  if (!live) {
    // nothing heard yet (a new tunnel, or this operator restarted): trust the recorded state for one timeout
    live = { state: status.tunnelState ?? 'disconnected', lastReport: now, timedOut: false, everConnected: status.phase === 'Active' || status.phase === 'Disconnected' };
    deps.live.set(tunnelId, live);
  }
  const connected = live.state === 'connected' && !live.timedOut;
  const selector = service.spec?.selector ?? {};
  if (!isTunnelSelector(selector) && !sameSelector(selector, original)) {
    // someone changed the Service's own selector meanwhile: that is its selector now
    logger.info({ namespace, service: spec.service, was: original, now: selector }, 'service selector changed by someone else; recording it as the original');
    original = selector;
    current = await writeStatus(current, { originalSelector: original }, deps);
    service = await kube.call<Service>('PUT', kubePaths.service(namespace, spec.service), {
      body: { ...service, metadata: { ...service.metadata, annotations: { ...service.metadata.annotations, [devAnnotations.originalSelector]: JSON.stringify(original) } } },
    });
  }
  const want = connected ? tunnelSelector(tunnelId) : original;
  if (!sameSelector(service.spec?.selector, want)) {
    service = await kube.call<Service>('PUT', kubePaths.service(namespace, spec.service), { body: { ...service, spec: { ...service.spec, selector: want } } });
    deps.onSwitch?.(connected ? 'tunnel' : 'original');
    logger.info({ namespace, service: spec.service, intercept: name, tunnelId, target: connected ? 'tunnel' : 'original', reason: live.reason }, 'service selector switched');
    deps.emit(connected ? 'intercept-active' : 'intercept-restored', current, live.reason);
  }

  const wasOn = status.phase === 'Active' || status.phase === 'Disconnected';
  const phase: InterceptPhase = connected ? 'Active' : wasOn || live.everConnected ? 'Disconnected' : 'Waiting';
  const message = connected
    ? `service ${spec.service}:${spec.port} → agent ${spec.agentId} of ${spec.holder}`
    : phase === 'Waiting'
      ? `waiting for the tunnel pod (${depName}) to report connected: it does once agent ${spec.agentId} of ${spec.holder} is online`
      : `service ${spec.service} is back on its own pods: ${live.reason ?? 'the tunnel pod is not connected'}`;
  await writeStatus(current, { phase, message, tunnelState: live.state, serviceTarget: connected ? 'tunnel' : 'original', targetPort }, deps);
}

/** Asks the work queue to try again after `ms` (not a failure: something else must happen first). */
export class RetryLater extends Error {
  constructor(readonly ms: number) {
    super(`retry in ${ms} ms`);
  }
}

/** The Intercept is being deleted: give the Service back, remove the tunnel pod, release the finalizer. */
async function finalize(ic: Intercept, deps: ReconcileDeps): Promise<void> {
  const { kube, logger } = deps;
  const namespace = ic.metadata.namespace!;
  const name = ic.metadata.name;
  const service = ic.spec?.service;
  if (service) {
    const svc = await kube.get<Service>(kubePaths.service(namespace, service));
    if (svc && svc.metadata.annotations?.[devAnnotations.interceptedBy] === name) {
      const original = ic.status?.originalSelector ?? parseSelectorAnnotation(svc);
      await releaseService(kube, svc, original, name);
      deps.onSwitch?.('original');
      logger.info({ namespace, service, intercept: name }, 'service given back to its own pods');
    }
  }
  await removeTunnelDeployment(kube, namespace, name);
  if (ic.status?.tunnelId) deps.live.delete(ic.status.tunnelId);
  if ((ic.metadata.finalizers ?? []).includes(INTERCEPT_FINALIZER)) {
    try {
      await kube.call('PUT', kubePaths.intercept(namespace, name), {
        body: { ...ic, metadata: { ...ic.metadata, finalizers: (ic.metadata.finalizers ?? []).filter((f) => f !== INTERCEPT_FINALIZER) } },
      });
    } catch (err) {
      if (kubeStatusOf(err) !== 404) throw err;
    }
    deps.emit('intercept-removed', ic);
  }
}

/** The Service's own selector again, and no trace of the Intercept on it. */
async function releaseService(kube: KubeClient, svc: Service, original: Record<string, string> | undefined, holder: string): Promise<void> {
  const annotations = { ...svc.metadata.annotations };
  if (annotations[devAnnotations.interceptedBy] !== holder) return;
  delete annotations[devAnnotations.interceptedBy];
  delete annotations[devAnnotations.originalSelector];
  const selector = original && !isTunnelSelector(svc.spec?.selector) ? svc.spec?.selector : original;
  await kube.call('PUT', kubePaths.service(svc.metadata.namespace!, svc.metadata.name), {
    body: { ...svc, metadata: { ...svc.metadata, annotations }, spec: { ...svc.spec, ...(selector ? { selector } : {}) } },
  });
}

async function removeTunnelDeployment(kube: KubeClient, namespace: string, interceptName: string): Promise<void> {
  const path = kubePaths.deployment(namespace, tunnelDeploymentName(interceptName));
  const dep = await kube.get<Deployment>(path);
  // only a Deployment this operator made for this Intercept
  if (dep && dep.metadata.labels?.[devLabels.intercept] === interceptName && dep.metadata.labels?.[devLabels.app] === devLabels.tunnelApp) await kube.remove(path);
}

type PodTemplate = { template?: { spec?: { containers?: Array<{ image?: string; env?: Array<{ name: string; value?: string }>; ports?: Array<{ name?: string; containerPort?: number }> }> } } };

/** Does the running Deployment differ from the wanted one in what the tunnel pod does (not in fields the API server defaults)? */
function podDrift(existing: Deployment, want: Deployment): boolean {
  const view = (d: Deployment): string => {
    const c = (d.spec as PodTemplate | undefined)?.template?.spec?.containers?.[0];
    const env = Object.fromEntries((c?.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
    return JSON.stringify([c?.image, Object.entries(env).sort(), (c?.ports ?? []).map((p) => [p.name, p.containerPort])]);
  };
  return view(existing) !== view(want);
}

/** JSON text with object keys sorted: equal for equal values whatever the key order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    typeof x === 'object' && x !== null && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );
}

function parseSelectorAnnotation(svc: Service): Record<string, string> | undefined {
  const raw = svc.metadata.annotations?.[devAnnotations.originalSelector];
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string')) return v as Record<string, string>;
  } catch {
    // an annotation someone edited by hand: not usable
  }
  return undefined;
}

function specProblem(spec: unknown): string {
  try {
    devCodecs.interceptSpec.decode(new TextEncoder().encode(JSON.stringify(spec ?? null)));
    return 'invalid';
  } catch (err) {
    return (err as Error).message.replace(/^InterceptSpec: /, '');
  }
}

/** Merge-patches the status with `change` when it changes anything (phase changes stamp `since`). */
async function writeStatus(ic: Intercept, change: Partial<InterceptStatus>, deps: ReconcileDeps): Promise<Intercept> {
  const cur: Partial<InterceptStatus> = ic.status ?? {};
  const next: Partial<InterceptStatus> = { ...cur, ...change };
  if (change.phase !== undefined && change.phase !== cur.phase) next.since = rfc3339(deps.now());
  if (change.phase !== undefined && change.message === undefined) delete next.message;
  next.observedGeneration = ic.metadata.generation ?? 0;
  next.phase ??= 'Pending';
  if (canonical(next) === canonical(cur)) return ic;
  // the whole status by merge patch: fields dropped here are removed with null
  const patch: Record<string, unknown> = { ...next };
  for (const k of Object.keys(cur)) if (!(k in next)) patch[k] = null;
  // a selector is replaced whole, never merged with the one before
  if (change.originalSelector && cur.originalSelector) {
    const sel: Record<string, string | null> = { ...change.originalSelector };
    for (const k of Object.keys(cur.originalSelector)) if (!(k in change.originalSelector)) sel[k] = null;
    patch.originalSelector = sel;
  }
  try {
    return await deps.kube.call<Intercept>('PATCH', kubePaths.interceptStatus(ic.metadata.namespace!, ic.metadata.name), {
      body: { status: patch },
      contentType: 'application/merge-patch+json',
    });
  } catch (err) {
    if (kubeStatusOf(err) === 404) throw new RetryLater(0);
    throw err;
  }
}
