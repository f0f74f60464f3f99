import { Type, type Static } from '@sinclair/typebox';
import { codec, MAX_AGENT_HOSTNAMES } from './schemas.ts';
import { subjects } from './subjects.ts';

/**
 * What the registry announces on `sluice.events.registry.<kind>` after every change it stores.
 * The state itself is in JetStream KV (the routes bucket for the router and ddns); these events
 * let anyone follow changes live (dashboard, audit) without ever calling the registry.
 */
export const registryEventKinds = [
  'user-created',
  'token-created',
  'token-revoked',
  'agent-created',
  'agent-credentials-rotated',
  'agent-revoked',
  'agent-registered',
  'agent-unregistered',
  'domain-added',
  'domain-verified',
  'domain-unverified',
  'domain-removed',
  'routes-changed',
] as const;
export type RegistryEventKind = (typeof registryEventKinds)[number];

export const RegistryEvent = Type.Object({
  v: Type.Literal(1),
  kind: Type.Union(registryEventKinds.map((k) => Type.Literal(k))),
  ts: Type.Number(),
  user: Type.Optional(Type.String({ maxLength: 32 })),
  agentId: Type.Optional(Type.String({ maxLength: 64 })),
  domain: Type.Optional(Type.String({ maxLength: 253 })),
  /** Hostnames the change concerns (routes added or removed, accepted at registration). */
  hostnames: Type.Optional(Type.Array(Type.String({ maxLength: 253 }), { maxItems: MAX_AGENT_HOSTNAMES + 1 })),
  removed: Type.Optional(Type.Array(Type.String({ maxLength: 253 }), { maxItems: MAX_AGENT_HOSTNAMES + 1 })),
  detail: Type.Optional(Type.String({ maxLength: 1024 })),
});
export type RegistryEvent = Static<typeof RegistryEvent>;
export const registryEventCodec = codec('RegistryEvent', RegistryEvent);
export const registryEventSubject = (kind: RegistryEventKind): string => subjects.registryEvent(kind);
export const registryEventsAll = 'sluice.events.registry.>';
