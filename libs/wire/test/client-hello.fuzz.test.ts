// Property tests: whatever bytes arrive, parseClientHello only throws its own WireErrors, never
// needs more than maxBytes, never depends on bytes past maxBytes, and gives one answer however the
// input is split into TCP segments. 100,000+ inputs per full run (scale with WIRE_FUZZ_SCALE).

import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  ClientHelloTooLargeError,
  MalformedClientHelloError,
  NotTlsError,
  parseClientHello,
  type ClientHelloResult,
} from '../src/index.ts';
import { alpn, buildClientHello, ext, sni, type Extension } from './support/client-hello-builder.ts';
import { loadClientHelloFixtures } from './support/fixtures.ts';
import { applyMutations, cutsArb, mutationArb, type LengthField } from './support/mutations.ts';

const SCALE = Number(process.env['WIRE_FUZZ_SCALE'] ?? '1');
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));
const TIMEOUT = 60_000 * Math.max(1, SCALE);

type Outcome = { ok: true; result: ClientHelloResult } | { ok: false; error: Error };

function outcome(buf: Buffer, maxBytes: number): Outcome {
  try {
    return { ok: true, result: parseClientHello(buf, { maxBytes }) };
  } catch (error) {
    if (error instanceof NotTlsError || error instanceof MalformedClientHelloError || error instanceof ClientHelloTooLargeError) {
      return { ok: false, error };
    }
    throw new Error(`unexpected throw on ${buf.toString('hex')}: ${String(error)}`);
  }
}

function same(a: Outcome, b: Outcome): boolean {
  if (a.ok && b.ok) return isDeepStrictEqual(a.result, b.result);
  if (!a.ok && !b.ok) return a.error.constructor === b.error.constructor && a.error.message === b.error.message;
  return false;
}

function show(o: Outcome): string {
  return o.ok ? JSON.stringify(o.result) : `${o.error.constructor.name}: ${o.error.message}`;
}

/** The invariants every input must satisfy. */
function checkInvariants(input: Buffer, maxBytes: number, cuts: number[]): void {
  const full = outcome(input, maxBytes);
  if (input.length >= maxBytes && full.ok && full.result.status === 'incomplete') {
    throw new Error(`incomplete with ${input.length} bytes >= maxBytes ${maxBytes}`);
  }
  if (input.length > maxBytes) {
    // Bytes past the cap cannot matter: change them all and expect the same answer.
    const capped = outcome(input.subarray(0, maxBytes), maxBytes);
    const altered = Buffer.from(input);
    for (let i = maxBytes; i < altered.length; i++) altered[i] = ~altered[i]! & 0xff;
    const alteredOutcome = outcome(altered, maxBytes);
    if (!same(full, capped) || !same(full, alteredOutcome)) {
      throw new Error(`looked past maxBytes: ${show(full)} vs ${show(capped)} / ${show(alteredOutcome)}`);
    }
  }
  if (full.ok && full.result.status === 'complete') {
    const { bytes } = full.result;
    if (bytes > Math.min(input.length, maxBytes)) throw new Error(`bytes ${bytes} beyond input/cap`);
    if (!same(outcome(input.subarray(0, bytes), maxBytes), full)) throw new Error('hello prefix disagrees');
  }
  // The edge's loop: grow the buffer segment by segment, stop at the first answer.
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  for (const p of points) {
    const partial = outcome(input.subarray(0, p), maxBytes);
    if (partial.ok && partial.result.status === 'incomplete') continue;
    if (partial.ok) {
      if (!same(partial, full)) throw new Error(`complete prefix ${p} disagrees: ${show(partial)} vs ${show(full)}`);
    } else if (full.ok) {
      throw new Error(`prefix ${p} threw ${show(partial)} but the whole input gave ${show(full)}`);
    }
    break;
  }
}

function helloLengthFields(buf: Buffer): LengthField[] {
  const fields: LengthField[] = [];
  for (let off = 0; off + 5 <= buf.length; off += 5 + buf.readUInt16BE(off + 3)) fields.push({ off: off + 3, size: 2 });
  fields.push({ off: 6, size: 3 });
  if (buf.readUInt16BE(3) + 5 !== buf.length) return fields; // multi-record: record and handshake lengths only
  let p = 43;
  fields.push({ off: p, size: 1 });
  p += 1 + buf[p]!;
  fields.push({ off: p, size: 2 });
  p += 2 + buf.readUInt16BE(p);
  fields.push({ off: p, size: 1 });
  p += 1 + buf[p]!;
  if (p + 2 > buf.length) return fields;
  fields.push({ off: p, size: 2 });
  p += 2;
  while (p + 4 <= buf.length) {
    const type = buf.readUInt16BE(p);
    const len = buf.readUInt16BE(p + 2);
    fields.push({ off: p + 2, size: 2 });
    if (type === 0) fields.push({ off: p + 4, size: 2 }, { off: p + 7, size: 2 });
    if (type === 16) {
      fields.push({ off: p + 4, size: 2 });
      for (let q = p + 6; q < p + 4 + len; q += 1 + buf[q]!) fields.push({ off: q, size: 1 });
    }
    p += 4 + len;
  }
  return fields;
}

const seeds = loadClientHelloFixtures().map((f) => f.bytes);
seeds.push(
  buildClientHello({ extensions: [sni('a.example'), alpn('h2')], recordSizes: [1, 1, 1, 1, 1, 7] }),
  buildClientHello({ extensions: null }),
);
const seedFields = seeds.map(helloLengthFields);

const maxBytesArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(16384) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 1400 }) },
);

const HOST_CHARS = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_'];
const hostnameArb = fc
  .tuple(
    fc.array(fc.string({ unit: fc.constantFrom(...HOST_CHARS), minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 5 }),
    fc.boolean(),
  )
  .map(([labels, dot]) => labels.join('.') + (dot ? '.' : ''));
const protocolArb = fc.string({ unit: fc.constantFrom(...'abcdefgh0123456789/.-'), minLength: 1, maxLength: 10 });

const generatedHelloArb = fc.record({
  serverName: fc.option(hostnameArb, { nil: null }),
  alpn: fc.array(protocolArb, { maxLength: 4 }),
  others: fc.uniqueArray(
    fc.record({ type: fc.integer({ min: 1, max: 0xffff }).filter((t) => t !== 16), data: fc.uint8Array({ maxLength: 40 }) }),
    { selector: (e) => e.type, maxLength: 5 },
  ),
  sniFirst: fc.boolean(),
  sessionId: fc.uint8Array({ maxLength: 32 }),
  cipherCount: fc.integer({ min: 1, max: 40 }),
  recordSizes: fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 5 }),
});

describe('parseClientHello fuzz', () => {
  it('mutated captures: only WireErrors, capped, segmentation-independent (50,000 inputs)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: seeds.length - 1 }),
        fc.array(mutationArb(), { minLength: 1, maxLength: 4 }),
        maxBytesArb,
        cutsArb,
        (seedIndex, mutations, maxBytes, cuts) => {
          const input = applyMutations(seeds[seedIndex]!, mutations, seedFields[seedIndex]);
          checkInvariants(input, maxBytes, cuts);
        },
      ),
      { numRuns: runs(50_000) },
    );
  }, TIMEOUT);

  it('generated hellos: exact SNI/ALPN when valid, invariants when mutated (30,000 inputs)', () => {
    fc.assert(
      fc.property(
        generatedHelloArb,
        fc.array(mutationArb(), { maxLength: 2 }),
        maxBytesArb,
        cutsArb,
        (spec, mutations, maxBytes, cuts) => {
          const extensions: Extension[] = spec.others.map((o) => ext(o.type, Buffer.from(o.data)));
          if (spec.alpn.length > 0) extensions.push(alpn(...spec.alpn));
          if (spec.serverName !== null) {
            if (spec.sniFirst) extensions.unshift(sni(spec.serverName));
            else extensions.push(sni(spec.serverName));
          }
          const hello = buildClientHello({
            extensions,
            sessionId: Buffer.from(spec.sessionId),
            cipherSuites: Buffer.alloc(spec.cipherCount * 2, 0x13),
            recordSizes: spec.recordSizes,
          });
          if (mutations.length === 0) {
            const r = parseClientHello(hello);
            const expected = {
              status: 'complete',
              serverName: spec.serverName === null ? null : spec.serverName.toLowerCase().replace(/\.$/, ''),
              alpn: spec.alpn,
              bytes: hello.length,
            };
            if (!isDeepStrictEqual(r, expected)) throw new Error(`${JSON.stringify(r)} != ${JSON.stringify(expected)}`);
          }
          checkInvariants(applyMutations(hello, mutations, helloLengthFields(hello)), maxBytes, cuts);
        },
      ),
      { numRuns: runs(30_000) },
    );
  }, TIMEOUT);

  it('random bytes, mostly behind a plausible record header (20,000 inputs)', () => {
    const header = fc.oneof(
      fc.constant(new Uint8Array(0)),
      fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 600 })).map(([minor, len]) =>
        Uint8Array.from([22, 3, minor, len >> 8, len & 0xff, 1, 0, (len - 4) >> 8, (len - 4) & 0xff]),
      ),
    );
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 700 }), maxBytesArb, cutsArb, (head, body, maxBytes, cuts) => {
        checkInvariants(Buffer.concat([head, body]), maxBytes, cuts);
      }),
      { numRuns: runs(20_000) },
    );
  }, TIMEOUT);
});
