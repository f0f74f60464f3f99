import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { KubeConfigError, KubeRequestError } from './errors.ts';
import type { KubeConnection } from './kube-connection.ts';

export interface KubeCallOptions {
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
export async function kubeCall(conn: KubeConnection, timeoutMs: number, method: string, path: string, opts: KubeCallOptions = {}): Promise<unknown> {
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
