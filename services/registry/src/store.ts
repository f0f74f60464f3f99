import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { openBucket } from '@sluice/nats';
import { StorageType } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Type } from '@sinclair/typebox';
import { codec, hostnameToKey, ID_PATTERN, newId, type Codec } from '@sluice/contracts';
import { recordCodecs, type HostClaim } from './records.ts';

export const REGISTRY_BUCKET = 'sluice_registry';

/**
 * Opens (creating if needed) the registry's bucket: file storage, so a restart loses nothing, and
 * as many replicas as the cluster allows (3 on a cluster), so losing a server loses no record.
 */
export async function openRegistryBucket(nc: NatsConnection): Promise<KV> {
  return openBucket(nc, REGISTRY_BUCKET, { history: 5, storage: StorageType.File });
}

export const keys = {
  user: (name: string) => `user.${name}`,
  token: (id: string) => `token.${id}`,
  agent: (id: string) => `agent.${id}`,
  domain: (user: string, domain: string) => `domain.${user}.${hostnameToKey(domain)}`,
  host: (hostname: string) => `host.${hostnameToKey(hostname)}`,
  /** `<name>.<user>.<region>.<zone>` → agent id: one agent per tunnel address. */
  agentName: (hostname: string) => `agentname.${hostnameToKey(hostname)}`,
} as const;

export const agentIndexCodec = codec('AgentIndex', Type.Object({ v: Type.Literal(1), agentId: Type.String({ pattern: ID_PATTERN }) }));

export interface Versioned<T> {
  value: T;
  revision: number;
}

/** Typed, validated access to the bucket. Reads of deleted keys are `null`. */
export class Store {
  constructor(readonly kv: KV) {}

  async get<T>(key: string, c: Codec<T>): Promise<Versioned<T> | null> {
    const e = await this.kv.get(key);
    if (!e || e.operation !== 'PUT' || e.length === 0) return null;
    return { value: c.decode(e.value), revision: e.revision };
  }

  /** Atomic create: false when the key already holds a value. */
  async create<T>(key: string, c: Codec<T>, value: T): Promise<boolean> {
    try {
      await this.kv.create(key, c.encode(value));
      return true;
    } catch (err) {
      if (isWrongSequence(err)) return false;
      throw err;
    }
  }

  /** Compare-and-set: false when someone else changed the key since `revision`. */
  async update<T>(key: string, c: Codec<T>, value: T, revision: number): Promise<boolean> {
    try {
      await this.kv.update(key, c.encode(value), revision);
      return true;
    } catch (err) {
      if (isWrongSequence(err)) return false;
      throw err;
    }
  }

  async put<T>(key: string, c: Codec<T>, value: T): Promise<void> {
    await this.kv.put(key, c.encode(value));
  }

  async delete(key: string): Promise<void> {
    await this.kv.delete(key);
  }

  async list<T>(prefix: string, c: Codec<T>): Promise<T[]> {
    const out: T[] = [];
    const ks: string[] = [];
    for await (const k of await this.kv.keys(`${prefix}.>`)) ks.push(k);
    for (const k of ks.sort()) {
      const v = await this.get(k, c);
      if (v) out.push(v.value);
    }
    return out;
  }
}

function isWrongSequence(err: unknown): boolean {
  const m = err instanceof Error ? err.message : String(err);
  return /wrong last sequence|key exists|10071/i.test(m);
}

// --- secrets: shown once, stored as hashes --------------------------------------------------

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** `<prefix>_<id>_<secret>`; only sha256(secret) is stored (the secret has 190 bits of entropy). */
export function newSecret(prefix: 'slt' | 'sla', id = newId(10)): { id: string; token: string; hash: string } {
  const secret = randomBytes(24).toString('base64url');
  return { id, token: `${prefix}_${id}_${secret}`, hash: sha256(secret) };
}

export function parseSecret(prefix: 'slt' | 'sla', token: string): { id: string; hash: string } | null {
  const m = /^([a-z]{3})_([a-z0-9]{1,64})_([A-Za-z0-9_-]{16,128})$/.exec(token);
  if (!m || m[1] !== prefix) return null;
  return { id: m[2]!, hash: sha256(m[3]!) };
}

export function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

// --- hostname claims --------------------------------------------------------------------------

export type ClaimResult = { ok: true } | { ok: false; reason: string };

/**
 * Takes `hostname` for `user`: an atomic create when nobody has it; the same user re-takes a
 * name it released; another user's released name only after the hold-back (compare-and-set, so
 * of several racing claimers exactly one wins).
 */
export async function claimHost(store: Store, hostname: string, user: string, kind: HostClaim['kind'], holdbackMs: number, now = Date.now()): Promise<ClaimResult> {
  const key = keys.host(hostname);
  const fresh: HostClaim = { v: 1, hostname, user, kind, claimedAt: now };
  for (let attempt = 0; attempt < 8; attempt++) {
    const cur = await store.get(key, recordCodecs.claim);
    if (!cur) {
      if (await store.create(key, recordCodecs.claim, fresh)) return { ok: true };
      continue; // someone created it meanwhile: look again
    }
    const c = cur.value;
    if (c.user === user) {
      if (c.releasedAt === undefined && c.kind === kind) return { ok: true };
      if (await store.update(key, recordCodecs.claim, fresh, cur.revision)) return { ok: true };
      continue;
    }
    if (c.releasedAt === undefined) return { ok: false, reason: `${hostname} belongs to another user` };
    const freeAt = c.releasedAt + holdbackMs;
    if (now < freeAt) {
      return { ok: false, reason: `${hostname} was released by its previous owner and is held back until ${new Date(freeAt).toISOString()}` };
    }
    if (await store.update(key, recordCodecs.claim, fresh, cur.revision)) return { ok: true };
    return { ok: false, reason: `${hostname} was just claimed by another user` };
  }
  return { ok: false, reason: `${hostname}: too much contention, retry` };
}

/** Marks `user`'s claim released (kept as a tombstone for the hold-back period). */
export async function releaseHost(store: Store, hostname: string, user: string, now = Date.now()): Promise<void> {
  const key = keys.host(hostname);
  for (let attempt = 0; attempt < 8; attempt++) {
    const cur = await store.get(key, recordCodecs.claim);
    if (!cur || cur.value.user !== user || cur.value.releasedAt !== undefined) return;
    if (await store.update(key, recordCodecs.claim, { ...cur.value, releasedAt: now }, cur.revision)) return;
  }
}

/** Does `user` hold `hostname` right now? */
export async function holdsHost(store: Store, hostname: string, user: string): Promise<boolean> {
  const cur = await store.get(keys.host(hostname), recordCodecs.claim);
  return cur !== null && cur.value.user === user && cur.value.releasedAt === undefined;
}
