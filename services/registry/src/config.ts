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
  const withDefaults: unknown = { region: 'local', publicHttpPort: 80, publicTlsPort: 443, agents: [], ...readConfigMapping(text, source) };
  assertConfig(check, withDefaults, source);
  return withDefaults;
}
