import { isIP } from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { InvalidConfigError, ID_PATTERN, isValidRouteHostname, normalizeHostname, readConfigMapping, assertConfig } from '@sluice/contracts';

const Hostname = Type.String({ minLength: 1, maxLength: 253 });
const Addresses = Type.Object({
  ipv4: Type.Array(Type.String({ maxLength: 15 }), { maxItems: 64, default: [] }),
  ipv6: Type.Array(Type.String({ maxLength: 45 }), { maxItems: 64, default: [] }),
});

export const DdnsConfigSchema = Type.Object({
  /** Generated hostnames live here; every name under it answers the edges' addresses. */
  tunnelZone: Hostname,
  /** Names here answer their agent's reported public address. A zone of its own (own SOA/NS). */
  dynZone: Hostname,
  host: Type.String({ default: '127.0.0.1' }),
  /** UDP and TCP; 0 picks a port free for both. */
  port: Type.Integer({ minimum: 0, maximum: 65535, default: 53 }),
  ttl: Type.Integer({ minimum: 0, maximum: 86_400, default: 60 }),
  /** Name servers of both zones (NS records); with addresses, their A/AAAA records too. */
  nameservers: Type.Array(Type.Object({ name: Hostname, ipv4: Type.Optional(Type.Array(Type.String(), { maxItems: 8 })), ipv6: Type.Optional(Type.Array(Type.String(), { maxItems: 8 })) }), { minItems: 1, maxItems: 8 }),
  /** SOA RNAME (`hostmaster.example.com` for hostmaster@example.com). */
  hostmaster: Type.Optional(Hostname),
  /** Fixed addresses of the gateway (a load balancer in front of the edges), besides those edges announce. */
  edgeAddresses: Addresses,
  maxUdpPayload: Type.Integer({ minimum: 512, maximum: 4096, default: 1232 }),
  /** Per-source UDP response rate limit; `false` turns it off (benchmarks only). */
  rateLimit: Type.Union([
    Type.Literal(false),
    Type.Object({
      responsesPerSecond: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 100 }),
      slip: Type.Integer({ minimum: 0, maximum: 10, default: 2 }),
      ipv4PrefixLength: Type.Integer({ minimum: 8, maximum: 32, default: 24 }),
      ipv6PrefixLength: Type.Integer({ minimum: 16, maximum: 128, default: 56 }),
      maxTracked: Type.Integer({ minimum: 16, maximum: 10_000_000, default: 100_000 }),
    }),
  ]),
  /** Edges announce their addresses every minute; one silent for this long is dropped (it crashed). */
  edgeAddressMaxAgeSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 180 }),
  tcp: Type.Object({
    idleMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }),
    maxConnections: Type.Integer({ minimum: 1, maximum: 100_000, default: 1_000 }),
    maxPipelined: Type.Integer({ minimum: 1, maximum: 1_000, default: 32 }),
  }),
  /** RFC 2136 update keys (HMAC-SHA256): what each may set under `_acme-challenge.`. */
  tsigKeys: Type.Array(
    Type.Object({
      name: Hostname,
      algorithm: Type.Literal('hmac-sha256', { default: 'hmac-sha256' }),
      /** base64, at least 16 bytes */
      secret: Type.String({ minLength: 22, maxLength: 512, pattern: '^[A-Za-z0-9+/]+={0,2}$' }),
      /** Host names (exact or `*.`) whose `_acme-challenge.` TXT records the key may set. */
      names: Type.Array(Hostname, { maxItems: 1024, default: [] }),
      /** The key also owns every host name the registry routes to this agent. */
      agentId: Type.Optional(Type.String({ pattern: ID_PATTERN })),
    }),
    { maxItems: 10_000, default: [] },
  ),
});
export type DdnsConfig = Static<typeof DdnsConfigSchema>;
const check = TypeCompiler.Compile(DdnsConfigSchema);

const DEFAULT_RATE_LIMIT = { responsesPerSecond: 100, slip: 2, ipv4PrefixLength: 24, ipv6PrefixLength: 56, maxTracked: 100_000 };

/** Parses YAML/JSON text or an object; fills defaults; throws InvalidConfigError naming the first problem. */
export function parseDdnsConfig(input: string | object, source = 'ddns config'): DdnsConfig {
  const r = readConfigMapping(input, source);
  const tunnelZone = typeof r.tunnelZone === 'string' ? normalizeHostname(r.tunnelZone) : r.tunnelZone;
  const cfg: unknown = {
    host: '127.0.0.1',
    port: 53,
    ttl: 60,
    maxUdpPayload: 1232,
    nameservers: [{ name: `ns1.${String(tunnelZone)}` }],
    edgeAddressMaxAgeSeconds: 180,
    ...r,
    tunnelZone,
    dynZone: typeof r.dynZone === 'string' ? normalizeHostname(r.dynZone) : r.dynZone,
    rateLimit: r.rateLimit === false ? false : { ...DEFAULT_RATE_LIMIT, ...(r.rateLimit as object | undefined) },
    tcp: { idleMs: 10_000, maxConnections: 1_000, maxPipelined: 32, ...(r.tcp as object | undefined) },
    edgeAddresses: { ipv4: [], ipv6: [], ...(r.edgeAddresses as object | undefined) },
    tsigKeys: ((r.tsigKeys as unknown[] | undefined) ?? []).map((k) => ({ algorithm: 'hmac-sha256', names: [], ...(k as object) })),
  };
  assertConfig(check, cfg, source);
  const bad = (what: string): never => {
    throw new InvalidConfigError(`${source}: ${what}`);
  };
  for (const z of [cfg.tunnelZone, cfg.dynZone]) if (!isValidRouteHostname(z) || z.startsWith('*.')) bad(`zone "${z}" is not a valid host name`);
  if (cfg.tunnelZone === cfg.dynZone) bad('tunnelZone and dynZone must differ');
  const ips = [...(cfg.edgeAddresses.ipv4), ...cfg.nameservers.flatMap((n) => n.ipv4 ?? [])];
  for (const ip of ips) if (isIP(ip) !== 4) bad(`"${ip}" is not an IPv4 address`);
  const ip6s = [...(cfg.edgeAddresses.ipv6), ...cfg.nameservers.flatMap((n) => n.ipv6 ?? [])];
  for (const ip of ip6s) if (isIP(ip) !== 6) bad(`"${ip}" is not an IPv6 address`);
  for (const k of cfg.tsigKeys) {
    if (Buffer.from(k.secret, 'base64').length < 16) bad(`TSIG key "${k.name}" has a secret shorter than 16 bytes`);
    for (const n of k.names) if (!isValidRouteHostname(normalizeHostname(n))) bad(`TSIG key "${k.name}": "${n}" is not a host name or *. wildcard`);
  }
  return cfg;
}
