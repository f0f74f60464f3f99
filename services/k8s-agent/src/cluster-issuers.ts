import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { ClusterIssuerObject, KubeApi } from './kube-api.ts';
import { statusOf } from '@sluice/kube';

export const MANAGED_BY_ANNOTATION = 'sluice.dev/managed-by';
/** Hash of the spec the agent last wrote: a live spec with another hash was changed by someone else. */
export const SPEC_HASH_ANNOTATION = 'sluice.dev/spec-hash';
const MANAGER = 'sluice-agent';

export const ACME_SERVERS = {
  letsencrypt: 'https://acme-v02.api.letsencrypt.org/directory',
  'letsencrypt-staging': 'https://acme-staging-v02.api.letsencrypt.org/directory',
} as const;
export type IssuerName = keyof typeof ACME_SERVERS;

export interface IssuerSettings {
  email?: string;
  /** The class that HTTP-01 solver Ingresses get, so the tunnel carries the challenge to them. */
  ingressClassName: string;
}

export type IssuerOutcome = 'created' | 'updated' | 'unchanged' | 'user-changed' | 'not-ours';

/** JSON with object keys sorted, so that a hash does not depend on key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export const specHash = (spec: unknown): string => createHash('sha256').update(canonical(spec)).digest('hex').slice(0, 32);

/** The ClusterIssuer the agent wants: ACME, HTTP-01 through the ingress class in use. */
export function desiredClusterIssuer(name: IssuerName, s: IssuerSettings): ClusterIssuerObject {
  const spec = {
    acme: {
      server: ACME_SERVERS[name],
      ...(s.email ? { email: s.email } : {}),
      privateKeySecretRef: { name: `${name}-account-key` },
      solvers: [{ http01: { ingress: { ingressClassName: s.ingressClassName } } }],
    },
  };
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'ClusterIssuer',
    metadata: {
      name,
      labels: { 'app.kubernetes.io/managed-by': MANAGER },
      annotations: { [MANAGED_BY_ANNOTATION]: MANAGER, [SPEC_HASH_ANNOTATION]: specHash(spec) },
    },
    spec,
  };
}

/**
 * Makes one ClusterIssuer what the agent wants, without ever overwriting a user's: it creates a
 * missing one, and updates one only if the agent made it and its spec is still exactly what the
 * agent wrote (the spec-hash annotation matches the live spec).
 */
export async function ensureClusterIssuer(api: KubeApi, name: IssuerName, s: IssuerSettings, logger: Logger): Promise<IssuerOutcome> {
  const want = desiredClusterIssuer(name, s);
  const live = await api.getClusterIssuer(name);
  if (!live) {
    try {
      await api.createClusterIssuer(want);
    } catch (err) {
      if (statusOf(err) === 409) return 'unchanged'; // created by someone else meanwhile: theirs
      throw err;
    }
    logger.info({ clusterIssuer: name }, 'cluster issuer created');
    return 'created';
  }
  const annotations = live.metadata.annotations ?? {};
  if (annotations[MANAGED_BY_ANNOTATION] !== MANAGER) return 'not-ours';
  const liveHash = specHash(live.spec);
  if (annotations[SPEC_HASH_ANNOTATION] !== liveHash) {
    logger.info({ clusterIssuer: name }, 'cluster issuer was changed by someone else; leaving it as it is');
    return 'user-changed';
  }
  if (liveHash === want.metadata.annotations![SPEC_HASH_ANNOTATION]) return 'unchanged';
  await api.replaceClusterIssuer({
    ...want,
    metadata: { ...live.metadata, labels: { ...live.metadata.labels, ...want.metadata.labels }, annotations: { ...annotations, ...want.metadata.annotations } },
  });
  logger.info({ clusterIssuer: name }, 'cluster issuer updated');
  return 'updated';
}
