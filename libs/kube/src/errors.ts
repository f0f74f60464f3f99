import { SluiceError } from '@sluice/contracts';

/** A Kubernetes API request answered with a non-2xx status (`statusCode`), with the Status message. */
export class KubeRequestError extends SluiceError {
  readonly statusCode: number;
  constructor(method: string, path: string, statusCode: number, message: string) {
    super('SLUICE_KUBE_REQUEST_FAILED', `${method} ${path}: HTTP ${statusCode}: ${message}`);
    this.statusCode = statusCode;
  }
}

/** The Kubernetes API server is not configured (no current cluster in the kubeconfig). */
export class KubeConfigError extends SluiceError {
  constructor(message: string) {
    super('SLUICE_KUBE_CONFIG', message);
  }
}

/** The HTTP status of a failed call (KubeRequestError, or client-node's ApiException.code), if any. */
export function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return typeof e?.code === 'number' ? e.code : undefined;
}
