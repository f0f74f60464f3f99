import { kubeCall, statusOf, type KubeCallOptions, type ListPage, type KubeConnection } from '@sluice/kube';
import type { LoadBalancerEntry } from './ingress-view.ts';

/** A core/v1 Event, the fields the agent sets. */
export interface KubeEvent {
  metadata: { name: string; namespace: string };
  involvedObject: { apiVersion: string; kind: string; name: string; namespace: string; uid: string; resourceVersion: string };
  reason: string;
  message: string;
  type: 'Normal' | 'Warning';
  source: { component: string };
  reportingComponent: string;
  reportingInstance: string;
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
}

export interface ClusterIssuerObject {
  apiVersion: 'cert-manager.io/v1';
  kind: 'ClusterIssuer';
  metadata: { name: string; resourceVersion?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: Record<string, unknown>;
}

/** The Kubernetes API calls the agent makes (all but the watches), each with a deadline. */
export interface KubeApi {
  listIngresses(limit: number, continueToken: string | undefined): Promise<ListPage>;
  listIngressClasses(limit: number, continueToken: string | undefined): Promise<ListPage>;
  /** Sets status.loadBalancer.ingress (a JSON merge patch on the status subresource). */
  patchIngressStatus(namespace: string, name: string, entries: LoadBalancerEntry[]): Promise<void>;
  createEvent(namespace: string, event: KubeEvent): Promise<void>;
  /** Does the API server serve this group/version (`cert-manager.io/v1`)? */
  servesGroupVersion(groupVersion: string): Promise<boolean>;
  getClusterIssuer(name: string): Promise<ClusterIssuerObject | undefined>;
  createClusterIssuer(body: ClusterIssuerObject): Promise<void>;
  replaceClusterIssuer(body: ClusterIssuerObject): Promise<void>;
}


function listPage(raw: unknown): ListPage {
  const o = raw as { items?: unknown; metadata?: { resourceVersion?: unknown; continue?: unknown } };
  const md = o.metadata;
  return {
    items: Array.isArray(o.items) ? o.items : [],
    metadata: {
      ...(typeof md?.resourceVersion === 'string' ? { resourceVersion: md.resourceVersion } : {}),
      ...(typeof md?.continue === 'string' && md.continue !== '' ? { continue: md.continue } : {}),
    },
  };
}

const seg = encodeURIComponent;
const ISSUERS = '/apis/cert-manager.io/v1/clusterissuers';

export function createKubeApi(conn: KubeConnection, timeoutMs: number): KubeApi {
  const req = (method: string, path: string, opts?: KubeCallOptions): Promise<unknown> => kubeCall(conn, timeoutMs, method, path, opts);
  return {
    async listIngresses(limit, continueToken) {
      return listPage(await req('GET', '/apis/networking.k8s.io/v1/ingresses', { query: { limit, continue: continueToken } }));
    },
    async listIngressClasses(limit, continueToken) {
      return listPage(await req('GET', '/apis/networking.k8s.io/v1/ingressclasses', { query: { limit, continue: continueToken } }));
    },
    async patchIngressStatus(namespace, name, entries) {
      await req('PATCH', `/apis/networking.k8s.io/v1/namespaces/${seg(namespace)}/ingresses/${seg(name)}/status`, {
        body: { status: { loadBalancer: { ingress: entries } } },
        contentType: 'application/merge-patch+json',
      });
    },
    async createEvent(namespace, event) {
      await req('POST', `/api/v1/namespaces/${seg(namespace)}/events`, { body: { apiVersion: 'v1', kind: 'Event', ...event } });
    },
    async servesGroupVersion(groupVersion) {
      const [group] = groupVersion.split('/');
      const list = (await req('GET', '/apis')) as { groups?: Array<{ name?: string; versions?: Array<{ groupVersion?: string }> }> };
      return (list.groups ?? []).some((g) => g.name === group && (g.versions ?? []).some((v) => v.groupVersion === groupVersion));
    },
    async getClusterIssuer(name) {
      try {
        return (await req('GET', `${ISSUERS}/${seg(name)}`)) as ClusterIssuerObject;
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
    async createClusterIssuer(body) {
      await req('POST', ISSUERS, { body });
    },
    async replaceClusterIssuer(body) {
      await req('PUT', `${ISSUERS}/${seg(body.metadata.name)}`, { body });
    },
  };
}
