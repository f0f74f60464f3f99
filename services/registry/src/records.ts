import { Type, type Static } from '@sinclair/typebox';
import { ID_PATTERN, MAX_AGENT_HOSTNAMES, codec } from '@sluice/contracts';

/** Record schemas of the registry's KV bucket; every read is validated (a bucket is a boundary). */
export const USER_PATTERN = '^[a-z][a-z0-9-]{0,31}$';
export const REGION_PATTERN = '^[a-z][a-z0-9-]{0,31}$';
export const AGENT_NAME_PATTERN = '^[a-z][a-z0-9-]{0,31}$';

export const UserRecord = Type.Object({
  v: Type.Literal(1),
  name: Type.String({ pattern: USER_PATTERN }),
  admin: Type.Boolean(),
  createdAt: Type.Number(),
});
export type UserRecord = Static<typeof UserRecord>;

export const TokenRecord = Type.Object({
  v: Type.Literal(1),
  id: Type.String({ pattern: ID_PATTERN }),
  user: Type.String({ pattern: USER_PATTERN }),
  name: Type.String({ maxLength: 64 }),
  /** sha256 of the secret part, hex; the token itself is shown once and never stored. */
  hash: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  createdAt: Type.Number(),
});
export type TokenRecord = Static<typeof TokenRecord>;

const Claim = Type.Object({ hostname: Type.String(), reason: Type.String() });
const Positions = Type.Array(Type.Integer({ minimum: 0, maximum: 2 * MAX_AGENT_HOSTNAMES + 1 }), { maxItems: 2 * MAX_AGENT_HOSTNAMES + 2 });
/** Where each claim came from: positions in `accepted` followed by the names of `refused` (claimedNames). */
const StoredSources = Type.Object(
  {
    config: Type.Optional(Positions),
    cli: Type.Optional(Positions),
    /** `<namespace>/<name>` of an Ingress → its names. */
    ingress: Type.Optional(Type.Record(Type.String({ pattern: '^[a-z0-9][-a-z0-9]*/[a-z0-9][-.a-z0-9]*$', maxLength: 64 + 253 }), Positions, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

export const AgentRecord = Type.Object({
  v: Type.Literal(1),
  id: Type.String({ pattern: ID_PATTERN }),
  name: Type.String({ pattern: AGENT_NAME_PATTERN }),
  user: Type.String({ pattern: USER_PATTERN }),
  region: Type.String({ pattern: REGION_PATTERN }),
  /** `<name>.<user>.<region>.<tunnel zone>`: the agent owns it and every name under it. */
  hostname: Type.String(),
  ddnsHostname: Type.String(),
  secretHash: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  /** Public nkey of the agent's NATS user, when the registry issues NATS credentials. */
  natsUser: Type.Optional(Type.String()),
  createdAt: Type.Number(),
  /**
   * What the agent asked for last (accepted + refused, normalised): written by older versions only.
   * It is not stored any more: with 10,000 names it would double the record (NATS caps a value at
   * max_payload, 1 MiB by default).
   */
  requested: Type.Optional(Type.Array(Type.String(), { maxItems: MAX_AGENT_HOSTNAMES + 1 })),
  /** What the agent was told at its last registration: `sluice agents status` shows it. */
  accepted: Type.Array(Type.String(), { maxItems: MAX_AGENT_HOSTNAMES + 1 }),
  refused: Type.Array(Claim, { maxItems: MAX_AGENT_HOSTNAMES + 1 }),
  registeredAt: Type.Optional(Type.Number()),
  sources: Type.Optional(StoredSources),
});
export type AgentRecord = Static<typeof AgentRecord>;

export const DomainRecord = Type.Object({
  v: Type.Literal(1),
  domain: Type.String(),
  user: Type.String({ pattern: USER_PATTERN }),
  /** The value of the TXT record under `_sluice-challenge.<domain>` that proves control. */
  token: Type.String(),
  state: Type.Union([Type.Literal('pending'), Type.Literal('verified')]),
  createdAt: Type.Number(),
  verifiedAt: Type.Optional(Type.Number()),
  checkedAt: Type.Optional(Type.Number()),
  /** How the last successful check proved control. */
  method: Type.Optional(Type.Union([Type.Literal('txt'), Type.Literal('cname')])),
  /** What the last check found missing; empty when verified. */
  missing: Type.Array(Type.String(), { maxItems: 16 }),
});
export type DomainRecord = Static<typeof DomainRecord>;

/**
 * One hostname's owner. Created atomically (KV create), so of two users claiming a free name
 * exactly one wins; a released name keeps its record (with `releasedAt`) so that nobody else can
 * take it during the hold-back period.
 */
export const HostClaim = Type.Object({
  v: Type.Literal(1),
  hostname: Type.String(),
  user: Type.String({ pattern: USER_PATTERN }),
  kind: Type.Union([Type.Literal('agent'), Type.Literal('domain'), Type.Literal('quick')]),
  claimedAt: Type.Number(),
  releasedAt: Type.Optional(Type.Number()),
});
export type HostClaim = Static<typeof HostClaim>;

export const recordCodecs = {
  user: codec('UserRecord', UserRecord),
  token: codec('TokenRecord', TokenRecord),
  agent: codec('AgentRecord', AgentRecord),
  domain: codec('DomainRecord', DomainRecord),
  claim: codec('HostClaim', HostClaim),
} as const;
