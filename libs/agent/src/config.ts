import { isIPv4, isIPv6 } from 'node:net';
import { dirname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { InvalidConfigError, ID_PATTERN, MAX_AGENT_HOSTNAMES, agentInboxPrefix, normalizeHostname, isValidRouteHostname, readConfigMapping, assertConfig } from '@sluice/contracts';

const Rule = Type.Object({
  /** Exact host or `*.` wildcard; omitted = every host this agent is given (quick tunnels). */
  hostname: Type.Optional(Type.String({ maxLength: 253 })),
  /** `http://host:port` (HTTP, routed by Host) or `tls://host:port` (TLS passthrough by SNI). */
  service: Type.String({ pattern: '^(http|tls)://[^/\\s]+:[0-9]{1,5}/?$' }),
});

export const AgentConfigSchema = Type.Object({
  nats: Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })]),
  token: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  agentId: Type.Optional(Type.String({ pattern: ID_PATTERN })),
  /**
   * This agent's own NATS credentials (a `.creds` file issued for `agentId`; relative to the config
   * file). Their permissions cover only this agent's subjects: the agent then connects with its own
   * inbox prefix, registers on its own subject and leaves stream creation to the gateway.
   */
  credentials: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  transport: Type.Union([Type.Literal('core'), Type.Literal('jetstream')], { default: 'jetstream' }),
  /** Ask the registry for a generated `<name>.<user>.<region>.<zone>` hostname. */
  generate: Type.Boolean({ default: false }),
  /**
   * The region this agent serves from, the NATS cluster it connects to in a supercluster: edges
   * of that region get this agent before one elsewhere that serves the same name.
   */
  region: Type.Optional(Type.String({ pattern: '^[a-z0-9-]{1,32}$' })),
  /** At most an http and a tls rule for each of the registry's 10,000 hostnames, and a catch-all. */
  ingress: Type.Array(Rule, { minItems: 1, maxItems: 2 * MAX_AGENT_HOSTNAMES + 1 }),
  heartbeatMs: Type.Integer({ minimum: 50, maximum: 10_000, default: 300 }),
  /** Graceful stop: how long in-flight connections may take to finish. */
  graceMs: Type.Integer({ minimum: 0, maximum: 600_000, default: 10_000 }),
  /** Release generated hostnames on stop (quick tunnels). */
  releaseOnStop: Type.Boolean({ default: false }),
  /**
   * The public address ddns serves for this agent's names. By default the address the NATS server
   * sees this agent's connection come from; set it when a proxy in front of NATS hides that.
   */
  publicAddress: Type.Optional(Type.Object({ ipv4: Type.Optional(Type.String({ maxLength: 15 })), ipv6: Type.Optional(Type.String({ maxLength: 45 })) }, { additionalProperties: false })),
  /** How often the public address is reported (also at start and after each reconnect). */
  addressReportMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000, default: 60_000 })),
});
export type AgentConfig = Static<typeof AgentConfigSchema>;
const check = TypeCompiler.Compile(AgentConfigSchema);

export interface IngressRule {
  hostname: string | null;
  proto: 'http' | 'tls';
  host: string;
  port: number;
}

export function parseAgentConfig(input: string | object, source = 'agent config'): AgentConfig {
  const raw = readConfigMapping(input, source);
  const cfg: unknown = { transport: 'jetstream', generate: false, heartbeatMs: 300, graceMs: 10_000, releaseOnStop: false, ...raw };
  assertConfig(check, cfg, source);
  for (const r of cfg.ingress) {
    if (r.hostname !== undefined && !isValidRouteHostname(normalizeHostname(r.hostname))) {
      throw new InvalidConfigError(`${source}: /ingress hostname "${r.hostname}" is not a valid hostname or *. wildcard`);
    }
    const port = Number(new URL(r.service).port);
    if (!(port >= 1 && port <= 65535)) throw new InvalidConfigError(`${source}: /ingress service "${r.service}" has no valid port`);
  }
  if (cfg.credentials !== undefined && cfg.agentId === undefined) {
    throw new InvalidConfigError(`${source}: /credentials needs /agentId (the id the credentials were issued for)`);
  }
  const pa = cfg.publicAddress;
  if (pa?.ipv4 !== undefined && !isIPv4(pa.ipv4)) throw new InvalidConfigError(`${source}: /publicAddress/ipv4 "${pa.ipv4}" is not an IPv4 address`);
  if (pa?.ipv6 !== undefined && !isIPv6(pa.ipv6)) throw new InvalidConfigError(`${source}: /publicAddress/ipv6 "${pa.ipv6}" is not an IPv6 address`);
  return cfg;
}

/** How an agent with its own credentials connects (nothing when it has none: open or shared auth). */
export function agentConnectOptions(cfg: Pick<AgentConfig, 'credentials' | 'agentId'>): { credsFile?: string; inboxPrefix?: string } {
  if (cfg.credentials === undefined || cfg.agentId === undefined) return {};
  return { credsFile: cfg.credentials, inboxPrefix: agentInboxPrefix(cfg.agentId) };
}

/** A relative `credentials` path is the config file's neighbour, wherever the agent was started. */
export function withCredentialsBesideConfig(cfg: AgentConfig, configPath: string | undefined): AgentConfig {
  return cfg.credentials !== undefined && configPath ? { ...cfg, credentials: resolve(dirname(configPath), cfg.credentials) } : cfg;
}

export function compileRules(cfg: AgentConfig): IngressRule[] {
  return cfg.ingress.map((r) => {
    const u = new URL(r.service);
    return {
      hostname: r.hostname === undefined ? null : normalizeHostname(r.hostname),
      proto: u.protocol === 'tls:' ? 'tls' : 'http',
      host: u.hostname.replace(/^\[|\]$/g, ''),
      port: Number(u.port),
    };
  });
}

/** Each protocol's rules by hostname (exact and `*.` alike; the first rule of a name wins), and its catch-all. */
interface RuleIndex {
  byName: Map<string, IngressRule>;
  catchAll?: IngressRule;
}

/** Built once per compiled rule list: an agent of 10,000 Ingresses looks a host up per connection. */
const indexes = new WeakMap<IngressRule[], Record<'http' | 'tls', RuleIndex>>();

function indexOf(rules: IngressRule[]): Record<'http' | 'tls', RuleIndex> {
  let index = indexes.get(rules);
  if (!index) {
    index = { http: { byName: new Map() }, tls: { byName: new Map() } };
    for (const r of rules) {
      const i = index[r.proto];
      if (r.hostname === null) i.catchAll ??= r;
      else if (!i.byName.has(r.hostname)) i.byName.set(r.hostname, r);
    }
    indexes.set(rules, index);
  }
  return index;
}

/** The rule for a host and protocol: exact name first, then the nearest wildcard, then catch-all. */
export function matchRule(rules: IngressRule[], host: string, proto: 'http' | 'tls'): IngressRule | undefined {
  const { byName, catchAll } = indexOf(rules)[proto];
  const exact = byName.get(host);
  if (exact) return exact;
  // the nearest wildcard is the longest: `*.b.c` before `*.c` for a.b.c (a label must stand before it)
  for (let dot = host.indexOf('.', 1); dot > 0; dot = host.indexOf('.', dot + 1)) {
    const wild = byName.get(`*${host.slice(dot)}`);
    if (wild) return wild;
  }
  return catchAll;
}
