import { randomBytes } from 'node:crypto';

/** Ids travel inside NATS subjects, so they are restricted to one safe token. */
export const ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
const idRe = new RegExp(ID_PATTERN);

export function isId(value: string): boolean {
  return idRe.test(value);
}

const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** A random lower-case id, `bytes` of entropy long (base36-ish, subject-safe). */
export function newId(bytes = 12): string {
  const raw = randomBytes(bytes);
  let out = '';
  for (const b of raw) out += alphabet[b % 36];
  return out;
}
