import { isIPv4, isIPv6 } from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { InvalidConfigError, ID_PATTERN, MAX_AGENT_HOSTNAMES, readConfigMapping, assertConfig } from '@sluice/contracts';

/** A DNS-1123 label, as Kubernetes names namespaces. */
const Namespace = Type.String({ pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' });

export const KubeAgentConfigSchema = Type.Object({
  /** The agent's registry token (main.ts also reads it from SLUICE_AGENT_TOKEN, a Secret). */
  token: Type.String({ minLength: 1, maxLength: 256 }),
  /** The configured agent id; the registry's when absent. */
  agentId: Type.Optional(Type.String({ pattern: ID_PATTERN })),
  /** The agent's own NATS credentials (a .creds file from `sluice agents create`; main.ts reads SLUICE_AGENT_CREDS). */
  credentials: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  transport: Type.Union([Type.Literal('core'), Type.Literal('jetstream')], { default: 'jetstream' }),
  /**
   * Only Ingresses of this class (spec.ingressClassName, the legacy `kubernetes.io/ingress.class`
   * annotation, or none when this IngressClass is the cluster's default); `*` = every Ingress.
   */
  ingressClass: Type.String({ minLength: 1, maxLength: 253, default: 'nginx' }),
  namespaces: Type.Object(
    {
      /** Only these namespaces; empty = all. */
      include: Type.Array(Namespace, { default: [] }),
      /** Never these namespaces (applied after `include`). */
      exclude: Type.Array(Namespace, { default: [] }),
    },
    { default: {} },
  ),
  /** Where tunneled connections go: the Ingress controller's Service. */
  controller: Type.Object(
    {
      host: Type.String({ minLength: 1, maxLength: 253, default: 'ingress-nginx-controller.ingress-nginx.svc.cluster.local' }),
      /** HTTP connections (routed by Host). */
      httpPort: Type.Integer({ minimum: 1, maximum: 65535, default: 80 }),
      /** TLS connections for hosts in an Ingress's spec.tls (passed through; the controller terminates). */
      tlsPort: Type.Integer({ minimum: 1, maximum: 65535, default: 443 }),
    },
    { default: {} },
  ),
  /** The address ddns serves for the agent's names, when a proxy in front of NATS hides its own. */
  publicAddress: Type.Optional(
    Type.Object({ ipv4: Type.Optional(Type.String({ maxLength: 15 })), ipv6: Type.Optional(Type.String({ maxLength: 45 })) }, { additionalProperties: false }),
  ),
  /** What goes into status.loadBalancer.ingress[].hostname; the agent's tunnel address when absent. */
  statusHostname: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
  clusterIssuers: Type.Object(
    {
      /** Ensure the `letsencrypt` and `letsencrypt-staging` ClusterIssuers when cert-manager is installed. */
      enabled: Type.Boolean({ default: true }),
      /** ACME account contact. */
      email: Type.Optional(Type.String({ pattern: '^[^@\\s]+@[^@\\s]+$', maxLength: 254 })),
      /** The class HTTP-01 solver Ingresses get; the agent's `ingressClass` (or `nginx` for `*`). */
      ingressClassName: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
      /** How often to look again for cert-manager (installed after the agent started). */
      recheckMs: Type.Integer({ minimum: 1_000, default: 300_000 }),
    },
    { default: {} },
  ),
  /**
   * Hostnames the agent claims at most (the registry takes 10,000 per agent). Hosts past it, the
   * newest Ingresses', are skipped with a `HostLimit` Event.
   */
  maxHosts: Type.Integer({ minimum: 1, maximum: MAX_AGENT_HOSTNAMES, default: MAX_AGENT_HOSTNAMES }),
  /** Coalesce bursts of Ingress changes into one registration. */
  settleMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 100 }),
  /** Re-list/re-watch and re-register backoff: doubling from `initialMs` up to `maxMs`, with jitter. */
  backoff: Type.Object(
    {
      initialMs: Type.Integer({ minimum: 1, default: 500 }),
      maxMs: Type.Integer({ minimum: 1, default: 30_000 }),
    },
    { default: {} },
  ),
  /** Every Kubernetes API request but watches. */
  requestTimeoutMs: Type.Integer({ minimum: 100, default: 15_000 }),
  /** Watches end after this and are resumed (the API server rotates them too). */
  watchTimeoutSeconds: Type.Integer({ minimum: 1, maximum: 3_600, default: 300 }),
  /** Ingress list page size. */
  listPageSize: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
  /** Events the agent may create per second (bursts of `eventBurst`); more wait their turn. */
  eventsPerSecond: Type.Number({ exclusiveMinimum: 0, default: 5 }),
  eventBurst: Type.Integer({ minimum: 1, default: 25 }),
  heartbeatMs: Type.Integer({ minimum: 50, maximum: 10_000, default: 1_000 }),
  graceMs: Type.Integer({ minimum: 0, maximum: 600_000, default: 10_000 }),
});
export type KubeAgentConfig = Static<typeof KubeAgentConfigSchema>;
export type KubeAgentConfigInput = Omit<Partial<KubeAgentConfig>, 'namespaces' | 'controller' | 'clusterIssuers' | 'backoff'> & {
  token: string;
  namespaces?: Partial<KubeAgentConfig['namespaces']>;
  controller?: Partial<KubeAgentConfig['controller']>;
  clusterIssuers?: Partial<KubeAgentConfig['clusterIssuers']>;
  backoff?: Partial<KubeAgentConfig['backoff']>;
};

const check = TypeCompiler.Compile(KubeAgentConfigSchema);

/**
 * Parses YAML/JSON text or an object, fills defaults, and validates; throws InvalidConfigError
 * naming the first problem.
 */
export function parseKubeAgentConfig(input: string | KubeAgentConfigInput | object, source = 'k8s agent config'): KubeAgentConfig {
  const raw = readConfigMapping(input, source);
  const cfg = Value.Default(KubeAgentConfigSchema, structuredClone(raw)) as unknown;
  assertConfig(check, cfg, source);
  if (cfg.backoff.maxMs < cfg.backoff.initialMs) throw new InvalidConfigError(`${source}: /backoff/maxMs must be at least /backoff/initialMs`);
  const pa = cfg.publicAddress;
  if (pa?.ipv4 !== undefined && !isIPv4(pa.ipv4)) throw new InvalidConfigError(`${source}: /publicAddress/ipv4 "${pa.ipv4}" is not an IPv4 address`);
  if (pa?.ipv6 !== undefined && !isIPv6(pa.ipv6)) throw new InvalidConfigError(`${source}: /publicAddress/ipv6 "${pa.ipv6}" is not an IPv6 address`);
  return cfg;
}
