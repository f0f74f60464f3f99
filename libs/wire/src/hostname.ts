import { describeByte } from './error-text.ts';

// One definition of "a host name we route on", shared by the SNI and Host parsers so that the two
// can never disagree about what a valid name is.

const DOT = 0x2e;

const HOSTNAME_CHAR = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) HOSTNAME_CHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) HOSTNAME_CHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) HOSTNAME_CHAR[c] = 1;
HOSTNAME_CHAR[0x2d] = 1; // -
HOSTNAME_CHAR[0x5f] = 1; // _

export const MAX_HOSTNAME_LENGTH = 253;

/**
 * Why `name` is not an acceptable host name, or null if it is. Allowed: letters, digits, '-', '_'
 * and '.', at most 253 characters and labels of 1-63 characters, with one optional trailing dot.
 */
export function hostnameProblem(name: string): string | null {
  let n = name.length;
  if (n > 0 && name.charCodeAt(n - 1) === DOT) n--;
  if (n === 0) return 'empty host name';
  if (n > MAX_HOSTNAME_LENGTH) return `longer than ${MAX_HOSTNAME_LENGTH} characters (${n})`;
  let label = 0;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c === DOT) {
      if (label === 0) return `empty label at position ${i}`;
      label = 0;
      continue;
    }
    if (c >= 128 || HOSTNAME_CHAR[c] !== 1) return `invalid character ${describeByte(c)} at position ${i}`;
    if (++label > 63) return `label longer than 63 characters at position ${i - 63}`;
  }
  if (label === 0) return `empty label at position ${n}`;
  return null;
}

/** Lowercases and strips one trailing dot; only for names `hostnameProblem` accepted. */
export function normalizeHostname(name: string): string {
  const end = name.charCodeAt(name.length - 1) === DOT ? name.length - 1 : name.length;
  return name.slice(0, end).toLowerCase();
}
