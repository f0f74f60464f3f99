import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { KubeConfigError, KubeRequestError } from './errors.ts';
import type { ListPage } from './informer.ts';
import type { LoadBalancerEntry } from './ingress-view.ts';
import type { KubeConnection } from './kube-connection.ts';

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

/** The HTTP status of a failed call (KubeRequestError, or client-node's ApiException.code), if any. */
export function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return typeof e?.code === 'number' ? e.code : undefined;
}

interface CallOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  contentType?: string;
}

/**
 * One request to the API server: JSON in, JSON out, a deadline, and a KubeRequestError carrying
 * the status and the Status message for anything but 2xx. (Plain node:http rather than client-node's
 * typed clients: see KubeConnection for why, and the typed clients' model deserialisation alone
 * costs ~0.5 ms per Ingress listed.)
 */
async function call(conn: KubeConnection, timeoutMs: number, method: string, path: string, opts: CallOptions = {}): Promise<unknown> {
  const cluster = conn.getCurrentCluster();
  if (!cluster) throw new KubeConfigError('no current cluster in the kubeconfig');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
  const ro: RequestOptions = {};
  await conn.applyToHTTPSOptions(ro);
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  const request = url.protocol === 'http:' ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ...(ro.agent !== undefined ? { agent: ro.agent } : {}),
        ...(ro.auth ? { auth: ro.auth } : {}),
        headers: {
          ...(ro.headers as Record<string, string> | undefined),
          accept: 'application/json',
          ...(payload ? { 'content-type': opts.contentType ?? 'application/json', 'content-length': String(payload.length) } : {}),
        },
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = text === '' ? {} : JSON.parse(text);
          } catch {
            body = undefined;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300 && body !== undefined) resolve(body);
          else {
            const message = (body as { message?: unknown } | undefined)?.message;
            reject(new KubeRequestError(method, path, status, typeof message === 'string' ? message : text.slice(0, 200)));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
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
  const req = (method: string, path: string, opts?: CallOptions): Promise<unknown> => call(conn, timeoutMs, method, path, opts);
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
