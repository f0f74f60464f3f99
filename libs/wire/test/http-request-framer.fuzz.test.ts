// Property tests: whatever bytes arrive and however they are segmented, HttpRequestFramer only
// throws HttpFramingErrors, emits exactly the bytes pushed (in order), holds at most maxHeadBytes,
// and reaches the same heads, bodies and verdict as when the stream arrives in one piece.
// 100,000+ inputs per full run (scale with WIRE_FUZZ_SCALE).

import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  HeadTooLargeError,
  MalformedRequestError,
  UnsupportedTransferEncodingError,
  UnsupportedVersionError,
  type HttpRequestFramerOptions,
} from '../src/index.ts';
import { frameSegments, oneByteSegments, splitAt, summary, type FramingRun } from './support/framer-harness.ts';
import { HTTP_FIXTURES, readFixture } from './support/fixtures.ts';
import { applyMutations, cutsArb, mutationArb } from './support/mutations.ts';

const SCALE = Number(process.env['WIRE_FUZZ_SCALE'] ?? '1');
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));
const TIMEOUT = 60_000 * Math.max(1, SCALE);

const STATUS = new Map<unknown, number>([
  [HeadTooLargeError, 431],
  [MalformedRequestError, 400],
  [UnsupportedTransferEncodingError, 501],
  [UnsupportedVersionError, 505],
]);

function checkError(run: FramingRun, input: Buffer): void {
  if (run.error === null) return;
  const status = STATUS.get((run.error as Error).constructor);
  if (status === undefined || (run.error as { status?: number }).status !== status) {
    throw new Error(`unexpected throw on ${JSON.stringify(input.toString('latin1'))}: ${String(run.error)}`);
  }
}

/** The harness checks conservation and the hold bound on every push; this adds the cross-run checks. */
function checkStream(input: Buffer, cuts: number[], bytewise: boolean, opts: HttpRequestFramerOptions): void {
  const whole = frameSegments([input], opts);
  checkError(whole, input);
  const segments = bytewise ? oneByteSegments(input) : splitAt(input, cuts.map((c) => c % (input.length + 1)));
  const split = frameSegments(segments, opts);
  checkError(split, input);
  if (whole.error === null) {
    if (split.error !== null) throw new Error(`split stream failed (${String(split.error)}) where the whole one did not`);
    if (!isDeepStrictEqual(summary(split), summary(whole))) throw new Error('split stream framed differently');
  } else if (split.error === null || (split.error as Error).constructor !== (whole.error as Error).constructor) {
    throw new Error(`verdicts differ: whole ${String(whole.error)}, split ${String(split.error)}`);
  }
}

const enc = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));
const DICTIONARY = [
  '\r\n', '\r', '\n', '\r\n\r\n', ' ', '\t', ':', ';', ',', '0', 'f', 'ffffffffffffffff', '0\r\n\r\n',
  'Host: x.example\r\n', 'Host: y\r\n', 'Content-Length: 5\r\n', 'Content-Length: 0\r\n', 'Transfer-Encoding: chunked\r\n',
  'Transfer-Encoding: gzip\r\n', 'Connection: upgrade\r\nUpgrade: websocket\r\n', ' chunked\r\n', 'GET / HTTP/1.1\r\n',
  'HTTP/1.0', 'CONNECT a:1 HTTP/1.1\r\n', 'X-A: 1\r\n', '\x00', '\x7f', '\xff',
].map(enc);

const corpus = HTTP_FIXTURES.map(readFixture);
corpus.push(
  Buffer.concat([readFixture('http-keepalive-pipeline.bin').subarray(0, 57), readFixture('http-node-chunked-trailers.bin'), readFixture('http-curl-get.bin')]),
);

const optsArb: fc.Arbitrary<HttpRequestFramerOptions> = fc.record({
  maxHeadBytes: fc.oneof({ weight: 3, arbitrary: fc.constant(16384) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 300 }) }),
  maxChunkLineBytes: fc.oneof({ weight: 3, arbitrary: fc.constant(4096) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 40 }) }),
});
const bytewiseArb = fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });

// A model of valid traffic: requests with their expected head fields and body bytes.
const TOKEN = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_'];
const labelArb = fc.string({ unit: fc.constantFrom(...TOKEN), minLength: 1, maxLength: 10 });
const hostArb = fc.record({
  name: fc.array(labelArb, { minLength: 1, maxLength: 4 }).map((l) => l.join('.')),
  dot: fc.boolean(),
  port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: null }),
});
const valueArb = fc
  .string({ unit: fc.constantFrom(...'abc XYZ 019 \t!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~\xe9'), maxLength: 20 })
  .map((v) => v.trim());
const fieldArb = fc.tuple(
  fc.string({ unit: fc.constantFrom(...TOKEN, '!', '#', '$', '%', '&', "'", '*', '+', '.', '^', '`', '|', '~'), minLength: 1, maxLength: 12 }),
  valueArb,
);
const bodyArb = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.uint8Array({ maxLength: 80 }).map((data) => ({ kind: 'length' as const, data })),
  fc
    .record({
      chunks: fc.array(fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.boolean(), fc.boolean()), { maxLength: 4 }),
      trailers: fc.array(fc.tuple(labelArb, valueArb), { maxLength: 2 }),
    })
    .map((c) => ({ kind: 'chunked' as const, ...c })),
);
const requestArb = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'X-CUSTOM'),
  path: fc.string({ unit: fc.constantFrom(...'abc/._~-?=&%2F09'), maxLength: 20 }),
  host: hostArb,
  fields: fc.array(fieldArb, { maxLength: 4 }),
  body: bodyArb,
  leadingCrlf: fc.boolean(),
});

const IGNORED_FIELDS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade']);

type Generated<A> = A extends fc.Arbitrary<infer T> ? T : never;

function serialize(r: Generated<typeof requestArb>): { bytes: Buffer; host: string; port: number | null; body: Buffer; kind: string } {
  const host = r.host.name + (r.host.dot ? '.' : '') + (r.host.port === null ? '' : `:${r.host.port}`);
  const fields = r.fields.filter(([n]) => !IGNORED_FIELDS.has(n.toLowerCase()));
  let head = `${r.leadingCrlf ? '\r\n' : ''}${r.method} /${r.path} HTTP/1.1\r\nHost: ${host}\r\n`;
  for (const [n, v] of fields) head += `${n}: ${v}\r\n`;
  let body = Buffer.alloc(0);
  if (r.body.kind === 'length') {
    head += `Content-Length: ${r.body.data.length}\r\n`;
    body = Buffer.from(r.body.data);
  } else if (r.body.kind === 'chunked') {
    head += 'Transfer-Encoding: chunked\r\n';
    const parts: Buffer[] = [];
    for (const [data, upper, extension] of r.body.chunks) {
      const size = data.length.toString(16);
      parts.push(Buffer.from(`${upper ? size.toUpperCase() : size}${extension ? ';ext="v"' : ''}\r\n`), Buffer.from(data), Buffer.from('\r\n'));
    }
    parts.push(Buffer.from(`0\r\n${r.body.trailers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`, 'latin1'));
    body = Buffer.concat(parts);
  }
  head += '\r\n';
  return {
    bytes: Buffer.concat([Buffer.from(head, 'latin1'), body]),
    host: r.host.name.toLowerCase(),
    port: r.host.port,
    body,
    kind: r.body.kind,
  };
}

describe('HttpRequestFramer fuzz', () => {
  it('mutated fixtures and smuggling attempts (50,000 inputs)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: corpus.length - 1 }),
        fc.array(mutationArb(DICTIONARY), { minLength: 1, maxLength: 4 }),
        cutsArb,
        bytewiseArb,
        optsArb,
        (seedIndex, mutations, cuts, bytewise, opts) => {
          checkStream(applyMutations(corpus[seedIndex]!, mutations), cuts, bytewise, opts);
        },
      ),
      { numRuns: runs(50_000) },
    );
  }, TIMEOUT);

  it('HTTP-token soup (25,000 inputs)', () => {
    const token = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...DICTIONARY) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 4 }) });
    fc.assert(
      fc.property(fc.array(token, { maxLength: 40 }), cutsArb, bytewiseArb, optsArb, (tokens, cuts, bytewise, opts) => {
        checkStream(Buffer.concat(tokens), cuts, bytewise, opts);
      }),
      { numRuns: runs(25_000) },
    );
  }, TIMEOUT);

  it('generated valid keep-alive traffic frames exactly as modelled (25,000 inputs)', () => {
    fc.assert(
      fc.property(
        fc.array(requestArb, { minLength: 1, maxLength: 4 }),
        fc.option(fc.uint8Array({ maxLength: 30 }), { nil: null }),
        cutsArb,
        bytewiseArb,
        (requests, upgradeTail, cuts, bytewise) => {
          const models = requests.map(serialize);
          const parts = models.map((m) => m.bytes);
          if (upgradeTail !== null) {
            parts.push(Buffer.from('GET /ws HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'), Buffer.from(upgradeTail));
          }
          const input = Buffer.concat(parts);
          checkStream(input, cuts, bytewise, {});
          const run = frameSegments(splitAt(input, cuts.map((c) => c % (input.length + 1))));
          if (run.error !== null) throw run.error;
          const expectedCount = models.length + (upgradeTail === null ? 0 : 1);
          if (run.requests.length !== expectedCount) throw new Error(`${run.requests.length} heads, expected ${expectedCount}`);
          models.forEach((m, i) => {
            const got = run.requests[i]!;
            if (got.head.host !== m.host || got.head.port !== m.port || got.head.bodyKind !== m.kind || !got.body.equals(m.body)) {
              throw new Error(`request ${i} framed wrongly: ${JSON.stringify(got.head)} vs ${JSON.stringify(m)}`);
            }
          });
          if (upgradeTail !== null && (!run.framer.passthrough || !run.requests[models.length]!.body.equals(upgradeTail))) {
            throw new Error('upgrade tail not passed through');
          }
        },
      ),
      { numRuns: runs(25_000) },
    );
  }, TIMEOUT);
});
