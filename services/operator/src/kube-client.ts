import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { interceptResource, type InterceptSpec, type InterceptStatus } from '@sluice/contracts';
import { KubeConfigError, KubeRequestError, type KubeConnection } from '@sluice/k8s-agent';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }>;
}

export interface KubeObject<Spec = Record<string, unknown>, Status = Record<string, unknown>> {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: Spec;
  status?: Status;
}

/** An Intercept as read from the API server: spec and status are checked by the reader (`devCodecs`). */
export type Intercept = KubeObject<InterceptSpec, InterceptStatus>;

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
}
export type Service = KubeObject<{ selector?: Record<string, string>; ports?: ServicePort[]; type?: string; [k: string]: unknown }>;
export type Deployment = KubeObject<Record<string, unknown>>;

export interface ListPage<T> {
  items: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

interface CallOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  contentType?: string;
}

/** The HTTP status a failed call was answered with (0: no answer at all). */
export function kubeStatusOf(err: unknown): number {
  return err instanceof KubeRequestError ? err.statusCode : 0;
}

const seg = encodeURIComponent;

/** API paths of the objects developer mode reads and writes. */
export const kubePaths = {
  intercepts: (namespace?: string): string =>
    `/apis/${interceptResource.group}/${interceptResource.version}${namespace ? `/namespaces/${seg(namespace)}` : ''}/${interceptResource.plural}`,
  intercept: (namespace: string, name: string): string => `${kubePaths.intercepts(namespace)}/${seg(name)}`,
  interceptStatus: (namespace: string, name: string): string => `${kubePaths.intercept(namespace, name)}/status`,
  service: (namespace: string, name: string): string => `/api/v1/namespaces/${seg(namespace)}/services/${seg(name)}`,
  deployments: (namespace: string): string => `/apis/apps/v1/namespaces/${seg(namespace)}/deployments`,
  deployment: (namespace: string, name: string): string => `${kubePaths.deployments(namespace)}/${seg(name)}`,
} as const;

/**
 * JSON requests to the Kubernetes API server with a deadline, on a KubeConnection (kubeconfig or
 * the pod's service account; see @sluice/k8s-agent for why not client-node's generated clients).
 * Anything but 2xx is a KubeRequestError with the status and the API server's message.
 */
export interface KubeClient {
  call<T>(method: string, path: string, opts?: CallOptions): Promise<T>;
  /** GET; undefined for 404. */
  get<T>(path: string): Promise<T | undefined>;
  /** Every item of a collection, page by page. */
  list<T>(path: string, pageSize?: number): Promise<{ items: T[]; resourceVersion: string }>;
  /** DELETE; false when it was not there. */
  remove(path: string): Promise<boolean>;
}

export function createKubeClient(conn: KubeConnection, timeoutMs = 10_000): KubeClient {
  const call = async <T>(method: string, path: string, opts: CallOptions = {}): Promise<T> => {
    const cluster = conn.getCurrentCluster();
    if (!cluster) throw new KubeConfigError('no current cluster in the kubeconfig');
    const url = new URL(cluster.server.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const ro: RequestOptions = {};
    await conn.applyToHTTPSOptions(ro);
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const request = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise<T>((resolve, reject) => {
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
            if (status >= 200 && status < 300 && body !== undefined) resolve(body as T);
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
  };
  return {
    call,
    async get<T>(path: string) {
      try {
        return await call<T>('GET', path);
      } catch (err) {
        if (kubeStatusOf(err) === 404) return undefined;
        throw err;
      }
    },
    async list<T>(path: string, pageSize = 500) {
      const items: T[] = [];
      let resourceVersion = '';
      let token: string | undefined;
      do {
        const page = await call<ListPage<T>>('GET', path, { query: { limit: pageSize, continue: token } });
        if (!resourceVersion) resourceVersion = page.metadata?.resourceVersion ?? '';
        items.push(...(Array.isArray(page.items) ? page.items : []));
        token = page.metadata?.continue || undefined;
      } while (token);
      return { items, resourceVersion };
    },
    async remove(path) {
      try {
        await call('DELETE', path);
        return true;
      } catch (err) {
        if (kubeStatusOf(err) === 404) return false;
        throw err;
      }
    },
  };
}
