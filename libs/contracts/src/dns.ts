import { isIPv4, isIPv6 } from 'node:net';
import { FormatRegistry, Type, type Static } from '@sinclair/typebox';
import { ID_PATTERN } from './ids.ts';
import { codec } from './schemas.ts';

/**
 * What the ddns service learns from, defined once. Every subject lives under `sluice.dns.>`, which
 * the `SLUICE_DNS` stream keeps (file storage, the last message of each subject), so a ddns that
 * starts replays the current state of every record before it answers, and never asks anyone.
 *
 *  sluice.dns.agent.<agent>.address   agent → ddns   the agent's public address (every 60 s, on reconnect)
 *  sluice.dns.edge.<edge>.address     edge/ops → ddns   an edge's public addresses (empty lists: withdrawn)
 *  sluice.dns.txt.<hex of name>       ddns (RFC 2136) → ddns   `_acme-challenge.` TXT records (empty: removed)
 *
 * The names an agent's address answers for come from the registry's routes bucket (`sluice_routes`):
 * a route `H` under the tunnel zone makes `H` with the dynamic-DNS zone in its place answer the
 * address its agent reports. Only the registry writes routes and an agent may publish only on its
 * own subjects, so nobody can point a name they do not own anywhere.
 */
export const dnsStream = { name: 'SLUICE_DNS', subjects: ['sluice.dns.>'] } as const;

export const dnsSubjects = {
  all: 'sluice.dns.>',
  agentAddress: (agentId: string) => `sluice.dns.agent.${agentId}.address`,
  edgeAddress: (edgeId: string) => `sluice.dns.edge.${edgeId}.address`,
  /** The owner name travels hex-encoded: names hold dots, which subjects use as separators. */
  acmeTxt: (name: string) => `sluice.dns.txt.${Buffer.from(name, 'latin1').toString('hex')}`,
} as const;

export type DnsSubject =
  | { kind: 'agent-address'; agentId: string }
  | { kind: 'edge-address'; edgeId: string }
  | { kind: 'acme-txt'; name: string };

const idRe = new RegExp(ID_PATTERN);
const hexRe = /^(?:[0-9a-f]{2}){1,253}$/;

/** What a `sluice.dns.>` subject names; null for any other subject. */
export function parseDnsSubject(subject: string): DnsSubject | null {
  const p = subject.split('.');
  if (p[0] !== 'sluice' || p[1] !== 'dns') return null;
  if (p.length === 5 && p[4] === 'address' && idRe.test(p[3]!)) {
    if (p[2] === 'agent') return { kind: 'agent-address', agentId: p[3]! };
    if (p[2] === 'edge') return { kind: 'edge-address', edgeId: p[3]! };
  }
  if (p.length === 4 && p[2] === 'txt' && hexRe.test(p[3]!)) return { kind: 'acme-txt', name: Buffer.from(p[3]!, 'hex').toString('latin1') };
  return null;
}

if (!FormatRegistry.Has('ipv4')) FormatRegistry.Set('ipv4', (v) => isIPv4(v));
if (!FormatRegistry.Has('ipv6')) FormatRegistry.Set('ipv6', (v) => isIPv6(v));

const Id = Type.String({ pattern: ID_PATTERN });
const Ipv4 = Type.String({ format: 'ipv4', maxLength: 15 });
const Ipv6 = Type.String({ format: 'ipv6', maxLength: 45 });

export const AgentAddress = Type.Object({
  v: Type.Literal(1),
  agentId: Id,
  /** Absent: the agent has no address of that family (its A or AAAA answer becomes empty). */
  ipv4: Type.Optional(Ipv4),
  ipv6: Type.Optional(Ipv6),
  /** `nats`: the address the NATS server saw the agent's connection come from; `config`: fixed. */
  source: Type.Union([Type.Literal('nats'), Type.Literal('config')]),
  ts: Type.Number(),
});
export type AgentAddress = Static<typeof AgentAddress>;

export const EdgeAddress = Type.Object({
  v: Type.Literal(1),
  edgeId: Id,
  ipv4: Type.Array(Ipv4, { maxItems: 64 }),
  ipv6: Type.Array(Ipv6, { maxItems: 64 }),
  ts: Type.Number(),
});
export type EdgeAddress = Static<typeof EdgeAddress>;

export const AcmeTxt = Type.Object({
  v: Type.Literal(1),
  /** Owner name, lower case, no trailing dot: `_acme-challenge.<a name the key owns>`. */
  name: Type.String({ minLength: 1, maxLength: 253, pattern: '^_acme-challenge\\.[a-z0-9_.*-]+$' }),
  /** Each record's RDATA (one or more character-strings, as on the wire), base64. Empty: removed. */
  rdata: Type.Array(Type.String({ minLength: 4, maxLength: 1400, pattern: '^[A-Za-z0-9+/]+={0,2}$' }), { maxItems: 16 }),
  /** The TSIG key that set it (ownership and quotas are per key). */
  keyName: Type.String({ minLength: 1, maxLength: 253 }),
  ts: Type.Number(),
});
export type AcmeTxt = Static<typeof AcmeTxt>;

export const dnsCodecs = {
  agentAddress: codec('AgentAddress', AgentAddress),
  edgeAddress: codec('EdgeAddress', EdgeAddress),
  acmeTxt: codec('AcmeTxt', AcmeTxt),
} as const;
