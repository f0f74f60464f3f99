import { interceptResource, type InterceptSpec, type InterceptStatus } from '@sluice/contracts';
import { statusOf } from './errors.ts';
import type { KubeConnection } from './kube-connection.ts';
import { kubeCall, type KubeCallOptions } from './request.ts';

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

export interface TypedListPage<T> {
  items: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

/** The HTTP status a failed call was answered with (0: no answer at all). */
export function kubeStatusOf(err: unknown): number {
  return statusOf(err) ?? 0;
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
  call<T>(method: string, path: string, opts?: KubeCallOptions): Promise<T>;
  /** GET; undefined for 404. */
  get<T>(path: string): Promise<T | undefined>;
  /** Every item of a collection, page by page. */
  list<T>(path: string, pageSize?: number): Promise<{ items: T[]; resourceVersion: string }>;
  /** DELETE; false when it was not there. */
  remove(path: string): Promise<boolean>;
}

export function createKubeClient(conn: KubeConnection, timeoutMs = 10_000): KubeClient {
  const call = async <T>(method: string, path: string, opts: KubeCallOptions = {}): Promise<T> => (await kubeCall(conn, timeoutMs, method, path, opts)) as T;
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
        const page = await call<TypedListPage<T>>('GET', path, { query: { limit: pageSize, continue: token } });
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
