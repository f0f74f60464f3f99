import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { InvalidMessageError } from './errors.ts';
import { ID_PATTERN } from './ids.ts';

const Id = Type.String({ pattern: ID_PATTERN });
const Host = Type.String({ minLength: 1, maxLength: 253 });
const Proto = Type.Union([Type.Literal('http'), Type.Literal('tls')]);
const Transport = Type.Union([Type.Literal('core'), Type.Literal('jetstream')]);
const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const ConnOpened = Type.Object({
  v: Type.Literal(1),
  connId: Id,
  edgeId: Id,
  host: Host,
  proto: Proto,
  clientAddr: Type.String({ maxLength: 64 }),
  clientPort: Type.Integer({ minimum: 0, maximum: 65535 }),
  ts: Type.Number(),
  /** The edge's region (a cluster of the NATS supercluster): the router prefers agents there. */
  region: Type.Optional(Type.String({ maxLength: 32 })),
});
export type ConnOpened = Static<typeof ConnOpened>;

export const ConnAssigned = Type.Object({
  v: Type.Literal(1),
  connId: Id,
  edgeId: Id,
  agentId: Id,
  host: Host,
  proto: Proto,
  transport: Transport,
  clientAddr: Type.String({ maxLength: 64 }),
  clientPort: Type.Integer({ minimum: 0, maximum: 65535 }),
});
export type ConnAssigned = Static<typeof ConnAssigned>;

export const RouteResult = Type.Object({
  v: Type.Literal(1),
  connId: Id,
  status: Type.Union([Type.Literal('assigned'), Type.Literal('not_found'), Type.Literal('no_agent')]),
  agentId: Type.Optional(Id),
  transport: Type.Optional(Transport),
});
export type RouteResult = Static<typeof RouteResult>;

export const AgentHeartbeat = Type.Object({
  v: Type.Literal(1),
  agentId: Id,
  instanceId: Id,
  transport: Transport,
  draining: Type.Boolean(),
  region: Type.Optional(Type.String({ maxLength: 32 })),
  // What the dashboard shows of a running agent. Optional: older agents send none of them.
  /** The agent software and its version, e.g. `sluice-agent/0.1.0`. */
  version: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[\\x20-\\x7e]+$' })),
  /**
   * How long this instance's NATS connection has been up, in ms: a duration, so the registry
   * dates it by its own clock (an agent's clock may be off).
   */
  connectedMs: Type.Optional(Count),
  /** Connections to upstreams open now. */
  activeConnections: Type.Optional(Count),
  /** Bytes carried over the last 60 s (a rolling figure the agent keeps): toward the upstream... */
  bytesInLastMinute: Type.Optional(Count),
  /** ...and back toward the clients. */
  bytesOutLastMinute: Type.Optional(Count),
});
export type AgentHeartbeat = Static<typeof AgentHeartbeat>;

export const AgentOffline = Type.Object({
  v: Type.Literal(1),
  agentId: Id,
  instanceId: Type.Optional(Id),
  reason: Type.Union([Type.Literal('stopped'), Type.Literal('heartbeat_timeout')]),
});
export type AgentOffline = Static<typeof AgentOffline>;

export const EdgeHeartbeat = Type.Object({
  v: Type.Literal(1),
  edgeId: Id,
  draining: Type.Boolean(),
});
export type EdgeHeartbeat = Static<typeof EdgeHeartbeat>;

export const EdgeOffline = Type.Object({
  v: Type.Literal(1),
  edgeId: Id,
  reason: Type.Union([Type.Literal('stopped'), Type.Literal('heartbeat_timeout')]),
});
export type EdgeOffline = Static<typeof EdgeOffline>;

/**
 * How many hostnames one agent may claim (a registration is its whole claim set). 10,000 names of
 * ~40 characters make a ~0.45 MB request, inside NATS's default 1 MiB max_payload.
 */
export const MAX_AGENT_HOSTNAMES = 10_000;
/** A registration reply lists the URLs of at most this many names (all of them are in `accepted`). */
export const MAX_REPLY_URLS = 100;

/** Positions in a list of hostnames (the request's `hostnames`), so that no name is sent twice. */
const HostIndexes = Type.Array(Type.Integer({ minimum: 0, maximum: MAX_AGENT_HOSTNAMES }), { maxItems: MAX_AGENT_HOSTNAMES + 1 });

/**
 * Where an agent's hostnames come from, for the dashboard: `config`, an agent config file's
 * ingress rules; `cli`, the command line (the registry files the name it generates on request,
 * what `sluice http`/`tls` ask for, under it too); `ingress`, Kubernetes Ingress objects by
 * `<namespace>/<name>` (several Ingresses of one namespace may share a host). Grouped per source
 * and by position, not a copy of every name: 10,000 names from 10,000 Ingresses add ~0.34 MB.
 */
export const ClaimSources = Type.Object(
  {
    config: Type.Optional(HostIndexes),
    cli: Type.Optional(HostIndexes),
    ingress: Type.Optional(
      Type.Record(Type.String({ pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$' }), HostIndexes, {
        additionalProperties: false,
        maxProperties: MAX_AGENT_HOSTNAMES,
      }),
    ),
  },
  { additionalProperties: false },
);
export type ClaimSources = Static<typeof ClaimSources>;

export const RegisterRequest = Type.Object({
  v: Type.Literal(1),
  /** Token naming a configured agent; absent for an anonymous quick tunnel. */
  token: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  /** Requested agent id (quick tunnels get a generated one). */
  agentId: Type.Optional(Id),
  transport: Transport,
  /** Hostnames the agent wants to serve (exact or `*.` wildcards). */
  hostnames: Type.Array(Host, { maxItems: MAX_AGENT_HOSTNAMES }),
  /** Ask for a generated hostname `<name>.<user>.<region>.<zone>`. */
  generate: Type.Boolean(),
  /**
   * An agent on its own credentials cannot create consumers: the registry (re)creates its two
   * (`agentConsumers`) at each registration; `true` starts them afresh (a new process).
   */
  resetConsumers: Type.Optional(Type.Boolean()),
  /** Where each of `hostnames` comes from (indices into it); names in no group have no known source. */
  sources: Type.Optional(ClaimSources),
});
export type RegisterRequest = Static<typeof RegisterRequest>;

export const RegisterReply = Type.Object({
  v: Type.Literal(1),
  ok: Type.Boolean(),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
  agentId: Type.Optional(Id),
  accepted: Type.Array(Host, { maxItems: MAX_AGENT_HOSTNAMES + 1 }),
  refused: Type.Array(Type.Object({ hostname: Type.String(), reason: Type.String() }), { maxItems: MAX_AGENT_HOSTNAMES + 1 }),
  /** URLs of the first `MAX_REPLY_URLS` accepted names that are not wildcards. */
  urls: Type.Array(Type.String(), { maxItems: MAX_REPLY_URLS }),
});
export type RegisterReply = Static<typeof RegisterReply>;

export const UnregisterRequest = Type.Object({
  v: Type.Literal(1),
  agentId: Id,
  token: Type.Optional(Type.String({ maxLength: 256 })),
});
export type UnregisterRequest = Static<typeof UnregisterRequest>;

export const RouteRecord = Type.Object({
  v: Type.Literal(1),
  hostname: Host,
  agentId: Id,
  createdAt: Type.Number(),
});
export type RouteRecord = Static<typeof RouteRecord>;

export interface Codec<T> {
  readonly name: string;
  /** Parses and validates bytes; throws InvalidMessageError naming the first problem. */
  decode(data: Uint8Array): T;
  encode(value: T): Uint8Array;
  check(value: unknown): value is T;
}

const td = new TextDecoder();
const te = new TextEncoder();

/** A JSON codec validated by `schema`; `dns.ts` builds its codecs with it too. */
export function codec<S extends TSchema>(name: string, schema: S): Codec<Static<S>> {
  const compiled = TypeCompiler.Compile(schema);
  return {
    name,
    check: (value: unknown): value is Static<S> => compiled.Check(value),
    encode: (value) => te.encode(JSON.stringify(value)),
    decode(data) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(td.decode(data));
      } catch (err) {
        throw new InvalidMessageError(`${name}: not JSON`, { cause: err });
      }
      if (!compiled.Check(parsed)) {
        const first = compiled.Errors(parsed).First();
        const where = first ? `${first.path || '/'}: ${first.message}` : 'invalid';
        throw new InvalidMessageError(`${name}: ${where}`);
      }
      return parsed;
    },
  };
}

export const codecs = {
  connOpened: codec('ConnOpened', ConnOpened),
  connAssigned: codec('ConnAssigned', ConnAssigned),
  routeResult: codec('RouteResult', RouteResult),
  agentHeartbeat: codec('AgentHeartbeat', AgentHeartbeat),
  agentOffline: codec('AgentOffline', AgentOffline),
  edgeHeartbeat: codec('EdgeHeartbeat', EdgeHeartbeat),
  edgeOffline: codec('EdgeOffline', EdgeOffline),
  registerRequest: codec('RegisterRequest', RegisterRequest),
  registerReply: codec('RegisterReply', RegisterReply),
  unregisterRequest: codec('UnregisterRequest', UnregisterRequest),
  routeRecord: codec('RouteRecord', RouteRecord),
} as const;
