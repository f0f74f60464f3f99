import fc from 'fast-check';
import dnsPacket from 'dns-packet';
import { signRequest, wireName } from '@sluice/ddns';
import { rawQuery } from './dns-client.ts';
import { DYN_ZONE, TUNNEL_ZONE } from './ddns-fixture.ts';

export const FUZZ_KEY = { name: wireName('fuzz-key'), secret: Buffer.from('fuzz-key-secret-0123456789abcdef') };

/** Well-formed messages of every kind the server handles: what mutations start from. */
export function seedCorpus(): Buffer[] {
  const names = [`demo.${TUNNEL_ZONE}`, TUNNEL_ZONE, `a.b.${DYN_ZONE}`, DYN_ZONE, 'example.com', `_acme-challenge.x.${TUNNEL_ZONE}`];
  const types = ['A', 'AAAA', 'TXT', 'SOA', 'NS', 'ANY', 'AXFR', 'CNAME'] as const;
  const out: Buffer[] = [];
  for (const name of names) {
    for (const type of types) {
      out.push(dnsPacket.encode({ type: 'query', id: out.length, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: type as 'A' }] }));
    }
    out.push(
      dnsPacket.encode({
        type: 'query',
        id: 7,
        questions: [{ name, type: 'A' }],
        additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, flags: dnsPacket.DNSSEC_OK, options: [{ code: 10, data: Buffer.alloc(8, 1) }] } as never],
      }),
    );
  }
  // a response (QR=1) with compressed names in its answers
  out.push(
    dnsPacket.encode({
      type: 'response',
      id: 9,
      questions: [{ name: `demo.${TUNNEL_ZONE}`, type: 'A' }],
      answers: [{ name: `demo.${TUNNEL_ZONE}`, type: 'A', data: '192.0.2.1' }],
    }),
  );
  // a signed update, and the same with a stale signature
  const update = dnsPacket.encode({
    type: 'query',
    id: 11,
    flags: 5 << 11,
    questions: [{ name: TUNNEL_ZONE, type: 'SOA' }],
    authorities: [
      { name: `_acme-challenge.fuzz.${TUNNEL_ZONE}`, type: 'TXT', ttl: 60, data: ['token'] },
      { name: `_acme-challenge.fuzz.${TUNNEL_ZONE}`, type: 'TXT', class: 'ANY', ttl: 0, data: [] } as never,
    ],
  } as never);
  const now = Math.floor(Date.now() / 1000);
  out.push(signRequest(update, FUZZ_KEY, now), signRequest(update, FUZZ_KEY, now - 10_000));
  // names as bytes, the longest name, and the worst-shaped inputs from the issue
  out.push(rawQuery([Buffer.from([0, 0x2e, 0xff]), Buffer.from('SlUiCe'), Buffer.from('test')], 1, { edns: 512 }));
  out.push(rawQuery(Array.from({ length: 127 }, () => Buffer.from('a')), 1));
  const loop = rawQuery([Buffer.from('x')], 1);
  out.push(Buffer.concat([loop.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]));
  const manyCounts = rawQuery([Buffer.from('y'), Buffer.from('sluice'), Buffer.from('test')], 1);
  manyCounts.writeUInt16BE(0xffff, 4);
  manyCounts.writeUInt16BE(0xffff, 10);
  out.push(manyCounts);
  return out;
}

/** One mutation of a packet: flips, overwrites, cuts, inserts, count and pointer damage. */
export function mutated(corpus: Buffer[]): fc.Arbitrary<Buffer> {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.nat(255) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 8 }) }),
    fc.record({ kind: fc.constant('count' as const), which: fc.nat(3), value: fc.oneof(fc.constant(0xffff), fc.nat(0xffff), fc.nat(4)) }),
    fc.record({ kind: fc.constant('pointer' as const), at: fc.nat(), target: fc.nat(0x3fff) }),
    fc.record({ kind: fc.constant('repeat' as const), from: fc.nat(), times: fc.integer({ min: 1, max: 8 }) }),
  );
  return fc.tuple(fc.nat(corpus.length - 1), fc.array(edit, { minLength: 1, maxLength: 4 })).map(([i, edits]) => {
    let b = Buffer.from(corpus[i]!);
    for (const e of edits) {
      if (b.length === 0) break;
      switch (e.kind) {
        case 'flip':
          b[e.at % b.length]! ^= 1 << e.bit;
          break;
        case 'set':
          b[e.at % b.length] = e.value;
          break;
        case 'cut':
          b = b.subarray(0, e.at % (b.length + 1));
          break;
        case 'insert': {
          const at = e.at % (b.length + 1);
          b = Buffer.concat([b.subarray(0, at), Buffer.from(e.bytes), b.subarray(at)]);
          break;
        }
        case 'count':
          if (b.length >= 12) b.writeUInt16BE(e.value, 4 + e.which * 2);
          break;
        case 'pointer': {
          const at = e.at % b.length;
          if (at + 1 < b.length) {
            b[at] = 0xc0 | (e.target >> 8);
            b[at + 1] = e.target & 0xff;
          }
          break;
        }
        case 'repeat': {
          const from = e.from % b.length;
          b = Buffer.concat([b, ...Array.from({ length: e.times }, () => b.subarray(from))]);
          break;
        }
      }
    }
    return Buffer.from(b.subarray(0, 4096));
  });
}

/** Random bytes, mostly with a plausible header so that more of them reach the deeper parsers. */
export function randomPacket(): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 600 }).map((u) => Buffer.from(u)),
    fc.tuple(fc.nat(0xffff), fc.nat(0x7fff), fc.array(fc.nat(3), { minLength: 4, maxLength: 4 }), fc.uint8Array({ maxLength: 300 })).map(([id, flags, counts, body]) => {
      const h = Buffer.alloc(12);
      h.writeUInt16BE(id, 0);
      h.writeUInt16BE(flags & ~0x8000, 2);
      counts.forEach((c, i) => h.writeUInt16BE(c, 4 + i * 2));
      return Buffer.concat([h, Buffer.from(body)]);
    }),
  );
}

/** `count` packets, half random and half mutated, the same ones for a given seed. */
export function fuzzPackets(count: number, seed: number): Buffer[] {
  const corpus = seedCorpus();
  const arb = fc.oneof(randomPacket(), mutated(corpus));
  return fc.sample(arb, { numRuns: count, seed });
}
