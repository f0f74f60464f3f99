/**
 * What the agent keeps of each Ingress and IngressClass: the fields it decides on, nothing else.
 * The informers' caches hold these instead of whole objects (client-go calls this a transform), so
 * 10,000 Ingresses with long annotations and managedFields cost a few MiB, not hundreds.
 */

export interface LoadBalancerEntry {
  hostname?: string;
  ip?: string;
}

export interface IngressView {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    /**
     * creationTimestamp as RFC 3339 text (the typed client's lists give a Date, watch events text;
     * both end up here as text, under another name so that the view is no V1ObjectMeta look-alike).
     */
    created: string;
    /** Only `kubernetes.io/ingress.class`, the legacy way to name a class. */
    legacyClass?: string;
  };
  spec: {
    ingressClassName?: string;
    /** `host` of each rule in order (`null` for a rule without host). */
    ruleHosts: Array<string | null>;
    tlsHosts: string[];
    hasDefaultBackend: boolean;
  };
  status: { loadBalancer: LoadBalancerEntry[] };
}

export interface IngressClassView {
  metadata: { name: string; namespace?: undefined; resourceVersion: string };
  controller: string;
  isDefault: boolean;
}

type Loose = Record<string, unknown> | undefined;

const obj = (v: unknown): Loose => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function timestamp(v: unknown): string {
  if (v instanceof Date) return v.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return str(v) ?? '';
}

export const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';

/** An Ingress (typed client model or watch JSON) → its view. Tolerates missing fields. */
export function toIngressView(input: unknown): IngressView {
  const o = obj(input);
  const md = obj(o?.metadata);
  const spec = obj(o?.spec);
  const lb = obj(obj(o?.status)?.loadBalancer);
  const legacyClass = str(obj(md?.annotations)?.[LEGACY_CLASS_ANNOTATION]);
  const ingressClassName = str(spec?.ingressClassName);
  return {
    metadata: {
      name: str(md?.name) ?? '',
      namespace: str(md?.namespace) ?? '',
      uid: str(md?.uid) ?? '',
      resourceVersion: str(md?.resourceVersion) ?? '',
      created: timestamp(md?.creationTimestamp),
      ...(legacyClass !== undefined ? { legacyClass } : {}),
    },
    spec: {
      ...(ingressClassName !== undefined ? { ingressClassName } : {}),
      ruleHosts: arr(spec?.rules).map((r) => str(obj(r)?.host) ?? null),
      tlsHosts: arr(spec?.tls).flatMap((t) => arr(obj(t)?.hosts).flatMap((h) => (typeof h === 'string' ? [h] : []))),
      hasDefaultBackend: obj(spec?.defaultBackend) !== undefined,
    },
    status: {
      loadBalancer: arr(lb?.ingress).map((e) => {
        const entry: LoadBalancerEntry = {};
        const hostname = str(obj(e)?.hostname);
        const ip = str(obj(e)?.ip);
        if (hostname !== undefined) entry.hostname = hostname;
        if (ip !== undefined) entry.ip = ip;
        return entry;
      }),
    },
  };
}

export function toIngressClassView(input: unknown): IngressClassView {
  const o = obj(input);
  const md = obj(o?.metadata);
  return {
    metadata: { name: str(md?.name) ?? '', resourceVersion: str(md?.resourceVersion) ?? '' },
    controller: str(obj(o?.spec)?.controller) ?? '',
    isDefault: str(obj(md?.annotations)?.[DEFAULT_CLASS_ANNOTATION]) === 'true',
  };
}

/** Do two views differ in what decides claims (not status, not resourceVersion)? */
export function sameClaimInputs(a: IngressView, b: IngressView): boolean {
  const sa = a.spec;
  const sb = b.spec;
  const eq = (x: ReadonlyArray<string | null>, y: ReadonlyArray<string | null>): boolean => x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    a.metadata.namespace === b.metadata.namespace &&
    a.metadata.legacyClass === b.metadata.legacyClass &&
    a.metadata.created === b.metadata.created &&
    sa.ingressClassName === sb.ingressClassName &&
    sa.hasDefaultBackend === sb.hasDefaultBackend &&
    eq(sa.ruleHosts, sb.ruleHosts) &&
    eq(sa.tlsHosts, sb.tlsHosts)
  );
}
