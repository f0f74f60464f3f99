// Cheap, shrinkable mutations of a seed input for fast-check: each mutation is a small record of
// numbers, applied deterministically, so generation costs little and shrinking stays meaningful.

import fc from 'fast-check';

export type Mutation =
  | { k: 'flip'; pos: number; bit: number }
  | { k: 'set'; pos: number; value: number }
  | { k: 'truncate'; len: number }
  | { k: 'insert'; pos: number; bytes: Uint8Array }
  | { k: 'delete'; pos: number; count: number }
  | { k: 'duplicate'; pos: number; count: number }
  /** Adds delta to the big-endian length field `field` (an index into the seed's length fields). */
  | { k: 'length'; field: number; delta: number };

export interface LengthField {
  off: number;
  size: 1 | 2 | 3;
}

export function mutationArb(dictionary: Uint8Array[] = []): fc.Arbitrary<Mutation> {
  const position = fc.nat({ max: 1 << 16 });
  const insertBytes =
    dictionary.length > 0
      ? fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.constantFrom(...dictionary))
      : fc.uint8Array({ minLength: 1, maxLength: 8 });
  return fc.oneof(
    fc.record({ k: fc.constant('flip' as const), pos: position, bit: fc.nat({ max: 7 }) }),
    fc.record({ k: fc.constant('set' as const), pos: position, value: fc.nat({ max: 255 }) }),
    fc.record({ k: fc.constant('truncate' as const), len: position }),
    fc.record({ k: fc.constant('insert' as const), pos: position, bytes: insertBytes }),
    fc.record({ k: fc.constant('delete' as const), pos: position, count: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ k: fc.constant('duplicate' as const), pos: position, count: fc.integer({ min: 1, max: 16 }) }),
    fc.record({
      k: fc.constant('length' as const),
      field: fc.nat({ max: 63 }),
      delta: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.integer({ min: -70000, max: 70000 })),
    }),
  );
}

export function applyMutations(seed: Buffer, mutations: Mutation[], lengthFields: LengthField[] = []): Buffer {
  let buf = Buffer.from(seed);
  for (const m of mutations) {
    const n = buf.length;
    switch (m.k) {
      case 'flip':
        if (n > 0) buf[m.pos % n]! ^= 1 << m.bit;
        break;
      case 'set':
        if (n > 0) buf[m.pos % n] = m.value;
        break;
      case 'truncate':
        buf = buf.subarray(0, m.len % (n + 1));
        break;
      case 'insert': {
        const at = m.pos % (n + 1);
        buf = Buffer.concat([buf.subarray(0, at), m.bytes, buf.subarray(at)]);
        break;
      }
      case 'delete': {
        const at = m.pos % (n + 1);
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + m.count)]);
        break;
      }
      case 'duplicate': {
        const at = m.pos % (n + 1);
        buf = Buffer.concat([buf.subarray(0, at + m.count), buf.subarray(at)]);
        break;
      }
      case 'length': {
        if (lengthFields.length === 0) break;
        const field = lengthFields[m.field % lengthFields.length]!;
        if (field.off + field.size > n) break;
        const bits = 8 * field.size;
        const value = buf.readUIntBE(field.off, field.size);
        const next = (((value + m.delta) % 2 ** bits) + 2 ** bits) % 2 ** bits;
        buf.writeUIntBE(next, field.off, field.size);
        break;
      }
    }
  }
  return buf;
}

/** Cut points for splitting an input into segments (positions are reduced modulo the length). */
export const cutsArb = fc.array(fc.nat({ max: 1 << 16 }), { maxLength: 6 });
