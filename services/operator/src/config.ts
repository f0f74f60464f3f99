import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { DNS_LABEL_PATTERN, readConfigMapping, assertConfig } from '@sluice/contracts';

export const OperatorConfigSchema = Type.Object(
  {
    /** The application namespaces whose Intercepts this operator reconciles (its Roles are there). */
    namespaces: Type.Array(Type.String({ pattern: DNS_LABEL_PATTERN }), { minItems: 1, maxItems: 256, uniqueItems: true }),
    /** The REST API tunnel pods report to: the same API on every port (80 and 8083 in a cluster). */
    api: Type.Object(
      {
        host: Type.String({ default: '0.0.0.0' }),
        ports: Type.Array(Type.Integer({ minimum: 0, maximum: 65535 }), { minItems: 1, maxItems: 4, default: [80, 8083] }),
        bodyLimitBytes: Type.Integer({ minimum: 512, maximum: 1 << 20, default: 8 * 1024 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** A tunnel pod that has not reported for this long is taken as gone: its Service goes back. */
    heartbeatTimeoutMs: Type.Integer({ minimum: 500, maximum: 600_000, default: 15_000 }),
    /** Every Intercept is reconciled again this often (repairs what someone changed by hand). */
    resyncMs: Type.Integer({ minimum: 1_000, maximum: 3_600_000, default: 30_000 }),
    /** What the operator puts in a tunnel pod's spec. */
    tunnel: Type.Object(
      {
        image: Type.String({ minLength: 1, maxLength: 512, default: 'ghcr.io/sluice-dev/sluice:0.1.0' }),
        /** The operator's API as tunnel pods reach it (its Service). */
        operatorUrl: Type.String({ pattern: '^https?://[^\\s/]+/?$', default: 'http://sluice-operator.sluice-dev.svc.cluster.local' }),
        /** The gateway's NATS, as tunnel pods reach it. */
        natsUrl: Type.String({ minLength: 1, maxLength: 1024, default: 'nats://nats.sluice.svc.cluster.local:4222' }),
        /**
         * A Secret in each application namespace whose key `nats-creds` holds the tunnel pods' NATS
         * credentials (an edge's: a tunnel pod is an edge); absent: tunnel pods connect without.
         */
        natsCredsSecret: Type.Optional(Type.String({ pattern: DNS_LABEL_PATTERN })),
        /** Heartbeat period of tunnel pods; default a third of `heartbeatTimeoutMs`. */
        heartbeatMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 300_000 })),
        /** A tunnel pod reports `disconnected` when the developer's agent is silent this long. */
        agentTimeoutMs: Type.Integer({ minimum: 300, maximum: 120_000, default: 2_000 }),
        logLevel: Type.Union([Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')], { default: 'info' }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);
export type OperatorConfig = Static<typeof OperatorConfigSchema>;
const check = TypeCompiler.Compile(OperatorConfigSchema);

/** YAML or JSON operator config (or an object), defaults filled in; InvalidConfigError names the first problem. */
export function parseOperatorConfig(input: string | object, source = 'operator config'): OperatorConfig {
  const raw = readConfigMapping(input, source);
  const cfg: unknown = Value.Default(OperatorConfigSchema, structuredClone(raw));
  assertConfig(check, cfg, source);
  return cfg;
}

/** The tunnel pods' heartbeat period: as configured, else a third of the timeout (two may be lost). */
export function tunnelHeartbeatMs(cfg: OperatorConfig): number {
  return cfg.tunnel.heartbeatMs ?? Math.max(100, Math.floor(cfg.heartbeatTimeoutMs / 3));
}
