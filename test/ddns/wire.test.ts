import { describe, it, expect } from 'vitest';
import dnsPacket from 'dns-packet';
import { readName, nameKey, wireName } from '../../services/ddns/src/wire/name.ts';
import { readMessage } from '../../services/ddns/src/wire/message-reader.ts';
import { MessageWriter } from '../../services/ddns/src/wire/message-writer.ts';
import { DnsWireError } from '../../services/ddns/src/wire/errors.ts';
import { signRequest, signResponse, verifyTsig } from '../../services/ddns/src/wire/tsig.ts';
import { RRType, TsigError } from '../../services/ddns/src/wire/constants.ts';
import { encodeA } from '../../services/ddns/src/wire/rdata.ts';
import { ResponseRateLimiter, networkOf } from '../../services/ddns/src/rate-limit.ts';
import { ownsForAcme } from '../../services/ddns/src/update.ts';
import { parseDdnsConfig } from '../../services/ddns/src/config.ts';
import { rawQuery } from './support/dns-client.ts';

/** A 12-byte header followed by `body`: names start at offset 12. */
const msg = (...body: number[]): Buffer => Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...body]);
const codeOf = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(DnsWireError);
    return (err as DnsWireError).code;
  }
  return 'no error';
};

describe('names as bytes', () => {
  it('reads labels with any octet and keys them with ASCII case folded and dots escaped', () => {
    const q = rawQuery([Buffer.from('DeMo'), Buffer.from([0x61, 0x2e, 0x5c, 0xc0, 0xff]), Buffer.from('sluice'), Buffer.from('TEST')], 1);
    const m = readMessage(q);
    expect(m.question!.key).toBe('demo.a\\.\\\\\u00c0\u00ff.sluice.test');
    // the question's bytes are untouched: a response copies them as sent
    expect(q.subarray(m.question!.start, m.question!.end - 4).toString('latin1')).toContain('DeMo');
    expect(nameKey(q, m.question!.name, 2)).toBe('sluice.test');
  });

  it('follows pointers only to earlier names and refuses loops, forward pointers and pointers into the header', () => {
    // "a" then a pointer back to offset 12 from offset 14: a loop through itself
    expect(codeOf(() => readName(msg(1, 0x61, 0xc0, 12), 12))).toBe('SLUICE_DNS_BAD_POINTER');
    expect(codeOf(() => readName(msg(0xc0, 12), 12))).toBe('SLUICE_DNS_BAD_POINTER');
    expect(codeOf(() => readName(msg(0xc0, 14, 0), 12))).toBe('SLUICE_DNS_BAD_POINTER');
    expect(codeOf(() => readName(msg(0xc0, 2), 12))).toBe('SLUICE_DNS_BAD_POINTER');
    // two names pointing at each other
    expect(codeOf(() => readName(msg(1, 0x61, 0xc0, 16, 1, 0x62, 0xc0, 12), 16))).toBe('SLUICE_DNS_BAD_POINTER');
    const ok = msg(1, 0x61, 0, 1, 0x62, 0xc0, 12);
    const n = readName(ok, 15);
    expect(nameKey(ok, n)).toBe('b.a');
    expect(n.end).toBe(ok.length);
    expect(n.compressed).toBe(true);
  });

  it('refuses extended label types, truncation and names over 255 bytes; 127 one-byte labels pass', () => {
    expect(codeOf(() => readName(msg(0x41, 0), 12))).toBe('SLUICE_DNS_BAD_LABEL');
    expect(codeOf(() => readName(msg(5, 0x61), 12))).toBe('SLUICE_DNS_TRUNCATED');
    expect(codeOf(() => readName(msg(1, 0x61), 12))).toBe('SLUICE_DNS_TRUNCATED');
    const long = Array.from({ length: 5 }, () => [63, ...Array<number>(63).fill(0x61)]).flat();
    expect(codeOf(() => readName(msg(...long, 0), 12))).toBe('SLUICE_DNS_NAME_TOO_LONG');
    const many = Array.from({ length: 127 }, () => [1, 0x61]).flat();
    expect(readName(msg(...many, 0), 12).labelStarts.length).toBe(127);
    expect(codeOf(() => readName(msg(...many, 1, 0x61, 0), 12))).toBe('SLUICE_DNS_NAME_TOO_LONG');
  });

  it('reads counts no further than the message: 65535 claimed records end in TRUNCATED, not a loop', () => {
    const q = rawQuery([Buffer.from('x')], 1);
    q.writeUInt16BE(0xffff, 6);
    q.writeUInt16BE(0xffff, 10);
    expect(codeOf(() => readMessage(q))).toBe('SLUICE_DNS_TRUNCATED');
  });
});

describe('MessageWriter', () => {
  it('compresses owner names and the names inside SOA and NS data; dns-packet reads it back', () => {
    const q = rawQuery([Buffer.from('Www'), Buffer.from('Sluice'), Buffer.from('test')], RRType.SOA);
    const m = readMessage(q);
    const w = new MessageWriter();
    w.header(7, 0x8400);
    w.copyQuestion(q, m.question!.start, m.question!.end, m.question!.name);
    const zone = wireName('sluice.test');
    w.record(null, RRType.A, 60, encodeA('192.0.2.1'));
    w.soa(zone, 60, { mname: wireName('ns1.sluice.test'), rname: wireName('hostmaster.sluice.test'), serial: 5, refresh: 1, retry: 2, expire: 3, minimum: 60 });
    w.nameRecord(zone, RRType.NS, 60, wireName('ns1.sluice.test'));
    const out = w.finish();
    const d = dnsPacket.decode(out);
    expect(d.questions?.[0]?.name).toBe('Www.Sluice.test');
    expect(d.answers?.map((a) => [a.name, a.type])).toEqual([
      ['Www.Sluice.test', 'A'],
      ['Sluice.test', 'SOA'],
      ['Sluice.test', 'NS'],
    ]);
    const soa = d.answers?.[1] as { data: { mname: string; rname: string } };
    expect(soa.data.mname).toBe('ns1.Sluice.test');
    expect(soa.data.rname).toBe('hostmaster.Sluice.test');
    // uncompressed, the same records would take 12 + 21 + (2+14) + (13+4+... ) far more bytes
    const plain = dnsPacket.encode({
      type: 'response',
      id: 7,
      questions: [{ name: 'www.sluice.test', type: 'SOA' }],
      answers: [
        { name: 'www.sluice.test', type: 'A', data: '192.0.2.1' },
        { name: 'sluice.test', type: 'SOA', data: { mname: 'ns1.sluice.test', rname: 'hostmaster.sluice.test', serial: 5, refresh: 1, retry: 2, expire: 3, minimum: 60 } },
        { name: 'sluice.test', type: 'NS', data: 'ns1.sluice.test' },
      ],
    });
    expect(out.length).toBeLessThan(plain.length - 40);
  });
});

describe('TSIG (HMAC-SHA256)', () => {
  const key = { name: wireName('acme-key'), secret: Buffer.from('0123456789abcdef0123456789abcdef') };
  const keys = new Map([[key.name.key, key]]);
  const unsigned = dnsPacket.encode({ type: 'query', id: 99, opcode: 'UPDATE', questions: [{ name: 'sluice.test', type: 'SOA' }] } as never);

  it('verifies what it signs; a changed byte, a wrong secret or a stale time is caught', () => {
    const signed = signRequest(unsigned, key, 1_000_000);
    const m = readMessage(signed);
    expect(verifyTsig(signed, m.tsig!, keys, 1_000_010)).toMatchObject({ ok: true });
    expect(verifyTsig(signed, m.tsig!, keys, 1_000_400)).toMatchObject({ ok: false, error: TsigError.BADTIME });
    const other = new Map([[key.name.key, { ...key, secret: Buffer.from('another secret of 16+ bytes') }]]);
    expect(verifyTsig(signed, m.tsig!, other, 1_000_010)).toMatchObject({ ok: false, error: TsigError.BADSIG });
    expect(verifyTsig(signed, m.tsig!, new Map(), 1_000_010)).toMatchObject({ ok: false, error: TsigError.BADKEY });
    const tampered = Buffer.from(signed);
    tampered[14] = tampered[14]! ^ 0x20; // a letter of the zone name, case flipped
    expect(verifyTsig(tampered, readMessage(tampered).tsig!, keys, 1_000_010)).toMatchObject({ ok: false, error: TsigError.BADSIG });
  });

  it('signs a response over the request MAC; an unknown key gets an unsigned record', () => {
    const signed = signRequest(unsigned, key, 1_000_000);
    const m = readMessage(signed);
    const resp = Buffer.from(unsigned);
    const rec = signResponse(resp, m.tsig!, key.name, key, 0, 1_000_001);
    const full = Buffer.concat([resp, rec]);
    full.writeUInt16BE(1, 10);
    const back = readMessage(full).tsig!;
    expect(back.mac.length).toBe(32);
    expect(back.originalId).toBe(99);
    const bare = signResponse(resp, m.tsig!, key.name, undefined, TsigError.BADKEY, 1_000_001);
    const full2 = Buffer.concat([resp, bare]);
    full2.writeUInt16BE(1, 10);
    const t = readMessage(full2).tsig!;
    expect(t.error).toBe(TsigError.BADKEY);
    expect(t.mac.length).toBe(0);
  });
});

describe('ownership of _acme-challenge names', () => {
  it('an exact name proves itself; a wildcard proves its base and the names under it', () => {
    expect(ownsForAcme('app.alice.eu.sluice.test', 'app.alice.eu.sluice.test')).toBe(true);
    expect(ownsForAcme('*.app.alice.eu.sluice.test', 'app.alice.eu.sluice.test')).toBe(true);
    expect(ownsForAcme('*.app.alice.eu.sluice.test', 'x.app.alice.eu.sluice.test')).toBe(true);
    expect(ownsForAcme('app.alice.eu.sluice.test', 'x.app.alice.eu.sluice.test')).toBe(false);
    expect(ownsForAcme('*.app.alice.eu.sluice.test', 'evilapp.alice.eu.sluice.test')).toBe(false);
    expect(ownsForAcme('*.app.alice.eu.sluice.test', 'bob.eu.sluice.test')).toBe(false);
  });
});

describe('response rate limiting', () => {
  it('counts per /24 and /56 per second, slips every second limited answer, and forgets old networks', () => {
    let now = 10_000;
    const rl = new ResponseRateLimiter({ responsesPerSecond: 3, slip: 2, ipv4PrefixLength: 24, ipv6PrefixLength: 56, maxTracked: 16 }, () => now);
    const seq = Array.from({ length: 7 }, (_, i) => rl.decide(`192.0.2.${i}`));
    expect(seq).toEqual(['send', 'send', 'send', 'drop', 'slip', 'drop', 'slip']);
    expect(rl.decide('192.0.3.1')).toBe('send');
    now += 1000;
    expect(rl.decide('192.0.2.9')).toBe('send');
    expect(networkOf('2001:db8:1:2ff::1', { ipv4PrefixLength: 24, ipv6PrefixLength: 56 })).toBe(networkOf('2001:db8:1:200::9', { ipv4PrefixLength: 24, ipv6PrefixLength: 56 }));
    expect(networkOf('::ffff:192.0.2.7', { ipv4PrefixLength: 24, ipv6PrefixLength: 56 })).toBe(networkOf('192.0.2.200', { ipv4PrefixLength: 24, ipv6PrefixLength: 56 }));
    for (let i = 0; i < 100; i++) rl.decide(`10.${i}.0.1`);
    expect(rl.tracked).toBeLessThanOrEqual(17);
  });
});

describe('ddns config', () => {
  it('defaults: port 53, TTL 60, rate limiting on, ns1.<tunnel zone>; names are normalised', () => {
    const c = parseDdnsConfig('tunnelZone: Sluice.Example.\ndynZone: dyn.sluice.example\n');
    expect(c).toMatchObject({ tunnelZone: 'sluice.example', port: 53, ttl: 60, maxUdpPayload: 1232, nameservers: [{ name: 'ns1.sluice.example' }] });
    expect(c.rateLimit).toMatchObject({ responsesPerSecond: 100, slip: 2 });
    expect(parseDdnsConfig({ tunnelZone: 'a.example', dynZone: 'b.example', rateLimit: false }).rateLimit).toBe(false);
  });

  it('refuses what cannot work, naming it', () => {
    const base = { tunnelZone: 'a.example', dynZone: 'b.example' };
    expect(() => parseDdnsConfig({ ...base, dynZone: 'a.example' })).toThrow(/must differ/);
    expect(() => parseDdnsConfig({ ...base, edgeAddresses: { ipv4: ['2001:db8::1'] } })).toThrow(/not an IPv4/);
    expect(() => parseDdnsConfig({ ...base, tsigKeys: [{ name: 'k', secret: Buffer.alloc(16, 7).toString('base64') }] })).not.toThrow();
    expect(() => parseDdnsConfig({ ...base, tsigKeys: [{ name: 'k', secret: 'c2hvcnQ=' }] })).toThrow(/secret/);
    expect(() => parseDdnsConfig({ ...base, port: 70000 })).toThrow(/port/);
  });
});
