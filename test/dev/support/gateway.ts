import { spawnService, startAuthNats, type AuthNats, type ServiceProcess } from '@sluice/testing';

/**
 * The part of the gateway developer mode uses, on an operator-mode nats-server: the registry
 * issuing each agent its own NATS credentials (REGISTRY_TRUST_FILE + NATS_SYSTEM_CREDS) and the
 * router. No public edge: the tunnel pod is the edge.
 */
export interface DevGateway {
  auth: AuthNats;
  registry: ServiceProcess;
  router: ServiceProcess;
  natsUrl: string;
  apiUrl: string;
  adminToken: string;
  zone: string;
  /** Creates a registry user through the API; returns their API token. */
  createUser(name: string): Promise<string>;
  /** The registry's REST API as `user` (their token). */
  call<T>(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  stop(): Promise<void>;
}

export async function startDevGateway(): Promise<DevGateway> {
  const zone = 'sluice.localhost';
  const auth = await startAuthNats();
  const natsUrl = auth.nats.url;
  const registry = await spawnService('registry', 'services/registry/src/main.ts', {
    NATS_URL: natsUrl,
    NATS_CREDS: await auth.serviceCredsFile('registry'),
    REGISTRY_TRUST_FILE: await auth.trustFile(),
    NATS_SYSTEM_CREDS: await auth.systemCredsFile(),
    REGISTRY_CONFIG_JSON: JSON.stringify({ zone, region: 'local', agentNatsUrl: natsUrl, api: { port: 0, requestsPerMinute: 100_000 } }),
  });
  const router = await spawnService('router', 'services/router/src/main.ts', { NATS_URL: natsUrl, NATS_CREDS: await auth.serviceCredsFile('router') });
  const { apiPort, bootstrapToken } = registry.ready as { apiPort: number; bootstrapToken: string };
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const call = async <T>(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(apiUrl + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  return {
    auth,
    registry,
    router,
    natsUrl,
    apiUrl,
    adminToken: bootstrapToken,
    zone,
    call,
    async createUser(name) {
      const r = await call<{ token: string }>(bootstrapToken, 'POST', '/v1/users', { name });
      if (r.status !== 201) throw new Error(`creating user ${name}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.token;
    },
    async stop() {
      await Promise.all([router.stop(10_000), registry.stop(10_000)]);
      await auth.stop();
    },
  };
}
