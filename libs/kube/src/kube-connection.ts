import { existsSync, readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent, type RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { KubeConfigError } from './errors.ts';

/**
 * Where the Kubernetes API server is and how to authenticate to it: what client-node's `Watch`
 * asks of a KubeConfig (`getCurrentCluster`, `applyToFetchOptions`), and what the agent's own
 * requests use (`applyToHTTPSOptions`). client-node's KubeConfig has all three, so either fits.
 *
 * Why not always client-node's KubeConfig: importing it loads the whole generated client (2,500
 * model files and every API group; ~130 MiB of resident memory and seconds of start-up under tsx),
 * which alone would spend the agent's memory budget. This loader covers what a pod needs (its
 * service account) and the usual kubeconfig entries; for exec or auth-provider users it falls back
 * to client-node's KubeConfig.
 */
export interface KubeConnection {
  getCurrentCluster(): { name: string; server: string; skipTLSVerify: boolean } | null;
  applyToHTTPSOptions(opts: RequestOptions): Promise<void>;
  applyToFetchOptions(opts: RequestOptions): Promise<{ agent?: unknown; headers: Record<string, string> | Headers }>;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface Endpoint {
  server: string;
  ca?: Buffer;
  skipTLSVerify: boolean;
  tlsServerName?: string;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  tokenFile?: string;
  basic?: string;
}

const TOKEN_REREAD_MS = 60_000;

/** A connection to one endpoint: one keep-alive agent, the token file re-read each minute (projected tokens rotate). */
export function kubeConnection(ep: Endpoint): KubeConnection {
  const url = new URL(ep.server);
  if (url.protocol === 'http:' && !ep.skipTLSVerify) throw new KubeConfigError(`${ep.server}: plain HTTP needs insecure-skip-tls-verify (as client-node requires)`);
  const agent =
    url.protocol === 'http:'
      ? new HttpAgent({ keepAlive: true })
      : new HttpsAgent({
          keepAlive: true,
          ...(ep.ca ? { ca: ep.ca } : {}),
          ...(ep.cert ? { cert: ep.cert } : {}),
          ...(ep.key ? { key: ep.key } : {}),
          ...(ep.tlsServerName ? { servername: ep.tlsServerName } : {}),
          rejectUnauthorized: !ep.skipTLSVerify,
        });
  let token = ep.token;
  let tokenReadAt = 0;
  const headers = (): Record<string, string> => {
    if (ep.tokenFile && Date.now() - tokenReadAt > TOKEN_REREAD_MS) {
      token = readFileSync(ep.tokenFile, 'utf8').trim();
      tokenReadAt = Date.now();
    }
    if (token) return { authorization: `Bearer ${token}` };
    if (ep.basic) return { authorization: `Basic ${Buffer.from(ep.basic).toString('base64')}` };
    return {};
  };
  return {
    getCurrentCluster: () => ({ name: 'current', server: ep.server.replace(/\/$/, ''), skipTLSVerify: ep.skipTLSVerify }),
    async applyToHTTPSOptions(opts) {
      opts.agent = agent;
      opts.headers = { ...(opts.headers as Record<string, string> | undefined), ...headers() };
    },
    async applyToFetchOptions(opts) {
      return { agent, headers: { ...(opts.headers as Record<string, string> | undefined), ...headers() } };
    },
  };
}

type Named<T> = { name?: string } & T;
interface KubeconfigFile {
  'current-context'?: string;
  clusters?: Array<Named<{ cluster?: Record<string, unknown> }>>;
  users?: Array<Named<{ user?: Record<string, unknown> }>>;
  contexts?: Array<Named<{ context?: { cluster?: string; user?: string } }>>;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The current context of a kubeconfig file as an Endpoint, or 'unsupported' for exec/auth-provider users. */
export function endpointFromKubeconfig(path: string): Endpoint | 'unsupported' {
  let doc: KubeconfigFile;
  try {
    doc = parseYaml(readFileSync(path, 'utf8')) as KubeconfigFile;
  } catch (err) {
    throw new KubeConfigError(`${path}: not a readable kubeconfig (${(err as Error).message})`);
  }
  const ctxName = doc['current-context'];
  const ctx = doc.contexts?.find((c) => c.name === ctxName)?.context;
  if (!ctx) throw new KubeConfigError(`${path}: current-context "${ctxName ?? ''}" is not among its contexts`);
  const cluster = doc.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster || !str(cluster.server)) throw new KubeConfigError(`${path}: context "${ctxName}" names cluster "${ctx.cluster ?? ''}", which has no server`);
  const user = doc.users?.find((u) => u.name === ctx.user)?.user ?? {};
  if (user.exec !== undefined || user['auth-provider'] !== undefined) return 'unsupported';
  if (cluster['proxy-url'] !== undefined) return 'unsupported';
  const base = dirname(path);
  const file = (p: unknown): Buffer | undefined => (str(p) ? readFileSync(isAbsolute(p as string) ? (p as string) : resolve(base, p as string)) : undefined);
  const data = (d: unknown): Buffer | undefined => (str(d) ? Buffer.from(d as string, 'base64') : undefined);
  const ep: Endpoint = { server: cluster.server as string, skipTLSVerify: cluster['insecure-skip-tls-verify'] === true };
  const ca = data(cluster['certificate-authority-data']) ?? file(cluster['certificate-authority']);
  if (ca) ep.ca = ca;
  if (str(cluster['tls-server-name'])) ep.tlsServerName = cluster['tls-server-name'] as string;
  const cert = data(user['client-certificate-data']) ?? file(user['client-certificate']);
  const key = data(user['client-key-data']) ?? file(user['client-key']);
  if (cert) ep.cert = cert;
  if (key) ep.key = key;
  if (str(user.token)) ep.token = user.token as string;
  const tokenFile = str(user.tokenFile) ?? str(user['token-file']);
  if (tokenFile) ep.tokenFile = isAbsolute(tokenFile) ? tokenFile : resolve(base, tokenFile);
  if (str(user.username)) ep.basic = `${user.username as string}:${str(user.password) ?? ''}`;
  return ep;
}

/** The pod's own service account, as client-go's rest.InClusterConfig does it. */
export function inClusterEndpoint(env: NodeJS.ProcessEnv, dir = SERVICE_ACCOUNT_DIR): Endpoint {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new KubeConfigError('not in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set');
  const h = host.includes(':') ? `[${host}]` : host;
  return { server: `https://${h}:${port}`, ca: readFileSync(join(dir, 'ca.crt')), tokenFile: join(dir, 'token'), skipTLSVerify: false };
}

/**
 * Like client-node's `loadFromDefault`: $KUBECONFIG (its first file), else ~/.kube/config, else the
 * in-cluster service account.
 */
export async function loadKubeConnection(env: NodeJS.ProcessEnv = process.env): Promise<KubeConnection> {
  const fromEnv = env.KUBECONFIG?.split(':').find((p) => p !== '');
  const home = join(homedir(), '.kube', 'config');
  const path = fromEnv ?? (existsSync(home) ? home : undefined);
  if (path) {
    const ep = endpointFromKubeconfig(path);
    if (ep !== 'unsupported') return kubeConnection(ep);
    // exec plugins, auth providers, proxies: client-node knows them all (at its memory cost)
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    return kc as unknown as KubeConnection;
  }
  return kubeConnection(inClusterEndpoint(env));
}
