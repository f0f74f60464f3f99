import { startNats, type NatsServerHandle } from './nats-server.ts';
import { startAuthNats, type AuthNats } from './nats-auth.ts';
import { freePort } from './free-port.ts';
import { spawnService, type ServiceProcess } from './service-process.ts';

export type TransportKind = 'core' | 'jetstream';

export interface AgentSpec {
  /** Configured agent id (must be in the registry's agents, see `registryAgents`). */
  id: string;
  token: string;
  transport: TransportKind;
  ingress: Array<{ hostname?: string; service: string }>;
  graceMs?: number;
  natsUrl?: string;
  env?: Record<string, string>;
  /** A `.creds` file for this agent; with `auth`, new credentials are issued when absent. */
  credentials?: string;
}

export interface StackOptions {
  zone?: string;
  /** Agents the registry knows (id, token, hostnames they own). */
  registryAgents?: Array<{ id: string; user?: string; token: string; hostnames: string[] }>;
  /** More registry configuration (e.g. `api`), merged over the stack's. */
  registryConfig?: Record<string, unknown>;
  edgeEnv?: Record<string, string>;
  routerEnv?: Record<string, string>;
  nats?: NatsServerHandle;
  /**
   * Operator-mode NATS: the services run on service credentials (`NATS_CREDS`) and every agent on
   * credentials of its own (`credentials` in its config). `true` starts a server for the stack.
   */
  auth?: AuthNats | true;
}

export interface Stack {
  nats: NatsServerHandle;
  /** Set when the stack runs with `auth`. */
  auth: AuthNats | undefined;
  edge: ServiceProcess;
  router: ServiceProcess;
  registry: ServiceProcess;
  httpPort: number;
  tlsPort: number;
  zone: string;
  startAgent(spec: AgentSpec): Promise<ServiceProcess>;
  startEdge(env?: Record<string, string>): Promise<ServiceProcess>;
  /** Every process of the stack, by name. */
  processes(): ServiceProcess[];
  stop(): Promise<void>;
}

/** A whole gateway on loopback: nats-server, registry, router, edge as child processes. */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const zone = opts.zone ?? 'sluice.localhost';
  const auth = opts.auth === true ? await startAuthNats() : opts.auth;
  const nats = opts.nats ?? auth?.nats ?? (await startNats());
  const ownsAuth = opts.auth === true;
  const ownsNats = !opts.nats && !opts.auth;
  const credsEnv = async (name: string): Promise<Record<string, string>> => (auth ? { NATS_CREDS: await auth.serviceCredsFile(name) } : {});
  const httpPort = await freePort();
  const tlsPort = await freePort();
  const agents: ServiceProcess[] = [];
  const edges: ServiceProcess[] = [];
  const registry = await spawnService('registry', 'services/registry/src/main.ts', {
    NATS_URL: nats.url,
    ...(await credsEnv('registry')),
    REGISTRY_CONFIG_JSON: JSON.stringify({
      zone,
      region: 'local',
      anonymousUser: 'dev',
      publicHttpPort: httpPort,
      publicTlsPort: tlsPort,
      agents: (opts.registryAgents ?? []).map((a) => ({ user: 'dev', ...a })),
      ...opts.registryConfig,
    }),
  });
  const router = await spawnService('router', 'services/router/src/main.ts', { NATS_URL: nats.url, ...(await credsEnv('router')), ...opts.routerEnv });
  const startEdge = async (env: Record<string, string> = {}): Promise<ServiceProcess> => {
    const first = edges.length === 0;
    const e = await spawnService(`edge${edges.length || ''}`, 'services/edge/src/main.ts', {
      NATS_URL: nats.url,
      ...(await credsEnv(`edge${edges.length || ''}`)),
      EDGE_HTTP_PORT: String(first ? httpPort : 0),
      EDGE_TLS_PORT: String(first ? tlsPort : 0),
      EDGE_GRACE_MS: '5000',
      ...opts.edgeEnv,
      ...env,
    });
    edges.push(e);
    return e;
  };
  const edge = await startEdge();
  return {
    nats,
    auth,
    edge,
    router,
    registry,
    httpPort,
    tlsPort,
    zone,
    startEdge,
    async startAgent(spec) {
      const credentials = spec.credentials ?? (auth ? (await auth.agentCredsFile(spec.id)).path : undefined);
      const a = await spawnService(`agent-${spec.id}`, 'services/agent/src/main.ts', {
        NATS_URL: spec.natsUrl ?? nats.url,
        AGENT_CONFIG_JSON: JSON.stringify({
          nats: spec.natsUrl ?? nats.url,
          token: spec.token,
          agentId: spec.id,
          transport: spec.transport,
          ingress: spec.ingress,
          graceMs: spec.graceMs ?? 5000,
          ...(credentials ? { credentials } : {}),
        }),
        ...spec.env,
      });
      agents.push(a);
      // the router learns of an agent from its first heartbeat
      await new Promise((r) => setTimeout(r, 150));
      return a;
    },
    processes: () => [registry, router, ...edges, ...agents],
    async stop() {
      await Promise.all([...agents, ...edges].map((p) => p.stop(10_000)));
      await Promise.all([router.stop(10_000), registry.stop(10_000)]);
      if (ownsAuth) await auth?.stop();
      else if (ownsNats) await nats.stop();
    },
  };
}
