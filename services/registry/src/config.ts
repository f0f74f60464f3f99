import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ID_PATTERN, readConfigMapping, assertConfig } from '@sluice/contracts';

export const RegistryConfigSchema = Type.Object({
  /** Generated hostnames are `<name>.<user>.<region>.<zone>`. */
  zone: Type.String({ minLength: 1, maxLength: 200 }),
  region: Type.String({ pattern: '^[a-z0-9-]{1,32}$', default: 'local' }),
  /** The user quick tunnels (no token) belong to; `null`/absent disables anonymous tunnels. */
  anonymousUser: Type.Optional(Type.String({ pattern: '^[a-z0-9-]{1,32}$' })),
  /** What the URLs handed back to agents look like. */
  publicHttpPort: Type.Integer({ minimum: 1, maximum: 65535, default: 80 }),
  publicTlsPort: Type.Integer({ minimum: 1, maximum: 65535, default: 443 }),
  /** The dynamic-DNS zone: agents' DDNS addresses are `<name>.<user>.<region>.<ddnsZone>`. Default `dyn.<zone>`. */
  ddnsZone: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  /** A hostname released by one user is held back this long before another user may claim it. */
  hostnameHoldbackSeconds: Type.Integer({ minimum: 0, maximum: 365 * 86400, default: 86400 }),
  /** How often verified domains are re-checked (a proof that disappeared stops routing). */
  domainRecheckSeconds: Type.Integer({ minimum: 1, maximum: 7 * 86400, default: 3600 }),
  /** DNS servers for domain verification (`ip` or `ip:port`); default: the system's resolvers. */
  dnsServers: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { minItems: 1, maxItems: 8 })),
  /** Create user `admin` and print its API token once on a first start with empty state. */
  bootstrapAdmin: Type.Boolean({ default: true }),
  /** The NATS URL handed to agents with their credentials. */
  agentNatsUrl: Type.Optional(Type.String({ maxLength: 1024 })),
  /** The REST API (fastify, OpenAPI at /openapi.json); absent: no API. */
  api: Type.Optional(
    Type.Object({
      port: Type.Integer({ minimum: 0, maximum: 65535, default: 8081 }),
      host: Type.String({ default: '127.0.0.1' }),
      bodyLimitBytes: Type.Integer({ minimum: 1024, maximum: 1 << 20, default: 16 * 1024 }),
      requestsPerMinute: Type.Integer({ minimum: 1, default: 600 }),
      verificationsPerMinute: Type.Integer({ minimum: 1, default: 10 }),
      authFailuresPerMinute: Type.Integer({ minimum: 1, default: 20 }),
    }, { additionalProperties: false }),
  ),
  agents: Type.Array(
    Type.Object({
      id: Type.String({ pattern: ID_PATTERN }),
      user: Type.String({ pattern: '^[a-z0-9-]{1,32}$' }),
      token: Type.String({ minLength: 16, maxLength: 256 }),
      /** Hostnames this agent owns (exact or `*.` wildcards); it may claim these or names under them. */
      hostnames: Type.Array(Type.String({ maxLength: 253 }), { maxItems: 1024 }),
    }),
    { default: [] },
  ),
});
export type RegistryConfig = Static<typeof RegistryConfigSchema>;
const check = TypeCompiler.Compile(RegistryConfigSchema);

/** Parses YAML or JSON registry config text; throws InvalidConfigError naming the first problem. */
export function parseRegistryConfig(text: string, source = 'registry config'): RegistryConfig {
  const raw = readConfigMapping(text, source);
  const api = raw.api;
  const withDefaults: unknown = {
    region: 'local', publicHttpPort: 80, publicTlsPort: 443, agents: [], hostnameHoldbackSeconds: 86400, domainRecheckSeconds: 3600, bootstrapAdmin: true,
    ...raw,
    ...(api && typeof api === 'object' && !Array.isArray(api)
      ? { api: { port: 8081, host: '127.0.0.1', bodyLimitBytes: 16 * 1024, requestsPerMinute: 600, verificationsPerMinute: 10, authFailuresPerMinute: 20, ...api } }
      : {}),
  };
  assertConfig(check, withDefaults, source);
  return withDefaults;
}
