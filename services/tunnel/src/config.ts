import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ID_PATTERN, InvalidConfigError, assertConfig, isValidRouteHostname } from '@sluice/contracts';

export const TunnelConfigSchema = Type.Object(
  {
    /** The Intercept's tunnel id (its reports go to `/v1/tunnels/<id>/…`). */
    tunnelId: Type.String({ pattern: ID_PATTERN }),
    /** The route each connection is announced for: the developer's agent serves it. */
    hostname: Type.String({ minLength: 1, maxLength: 253 }),
    /** The developer's agent: connected while it heartbeats. */
    agentId: Type.String({ pattern: ID_PATTERN }),
    listenHost: Type.String({ minLength: 1, default: '0.0.0.0' }),
    /** The intercepted Service port's targetPort. */
    listenPort: Type.Integer({ minimum: 0, maximum: 65535 }),
    /** The operator's REST API, e.g. http://sluice-operator.sluice-dev.svc.cluster.local. */
    operatorUrl: Type.String({ pattern: '^https?://[^\\s/]+/?$' }),
    /** This pod's bearer token for its reports. */
    token: Type.String({ pattern: '^[A-Za-z0-9_-]{16,128}$' }),
    /** This pod's name (downward API). */
    pod: Type.String({ minLength: 1, maxLength: 253 }),
    heartbeatMs: Type.Integer({ minimum: 100, maximum: 300_000, default: 5_000 }),
    /** The agent counts as gone after this long without a heartbeat. */
    agentTimeoutMs: Type.Integer({ minimum: 300, maximum: 120_000, default: 2_000 }),
    /** Graceful stop: how long in-flight connections may take to finish. */
    graceMs: Type.Integer({ minimum: 0, maximum: 600_000, default: 5_000 }),
  },
  { additionalProperties: false },
);
export type TunnelConfig = Static<typeof TunnelConfigSchema>;
const check = TypeCompiler.Compile(TunnelConfigSchema);

/** The tunnel pod's configuration from its environment (what the operator put in its pod spec). */
export function tunnelConfigFromEnv(env: NodeJS.ProcessEnv): TunnelConfig {
  const int = (key: string, v: string | undefined): number | undefined => {
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n)) throw new InvalidConfigError(`${key} must be an integer, got "${v}"`);
    return n;
  };
  const cfg: Record<string, unknown> = {
    tunnelId: env.TUNNEL_ID,
    hostname: env.TUNNEL_HOSTNAME,
    agentId: env.TUNNEL_AGENT_ID,
    listenHost: env.TUNNEL_LISTEN_HOST ?? '0.0.0.0',
    listenPort: int('TUNNEL_LISTEN_PORT', env.TUNNEL_LISTEN_PORT),
    operatorUrl: env.TUNNEL_OPERATOR_URL,
    token: env.TUNNEL_TOKEN,
    pod: env.POD_NAME,
    heartbeatMs: int('TUNNEL_HEARTBEAT_MS', env.TUNNEL_HEARTBEAT_MS) ?? 5_000,
    agentTimeoutMs: int('TUNNEL_AGENT_TIMEOUT_MS', env.TUNNEL_AGENT_TIMEOUT_MS) ?? 2_000,
    graceMs: int('TUNNEL_GRACE_MS', env.TUNNEL_GRACE_MS) ?? 5_000,
  };
  for (const [k, v] of Object.entries(cfg)) if (v === undefined) delete cfg[k];
  assertConfig(check, cfg, 'tunnel environment (TUNNEL_*, POD_NAME)');
  if (!isValidRouteHostname(cfg.hostname)) throw new InvalidConfigError(`TUNNEL_HOSTNAME "${cfg.hostname}" is not a valid hostname`);
  return cfg;
}
