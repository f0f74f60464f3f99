import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Resolver } from 'node:dns/promises';
import { startDdnsFixture, DYN_ZONE, TUNNEL_ZONE, type DdnsFixture } from './support/ddns-fixture.ts';
import { decode, dig, flagsOf, query, rawQuery, rcodeOf, tcpExchange, udpExchange } from './support/dns-client.ts';
import { announceEdge, deleteRoute, eventually, putRoute, reportAgent } from './support/events.ts';

const QR = 0x8000;
const AA = 0x0400;
const TC = 0x0200;
const RA = 0x0080;

function resolverFor(port: number): Resolver {
  const r = new Resolver({ timeout: 1000, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  return r;
}

describe('ddns answers as an authoritative server', () => {
  let f: DdnsFixture;
  let resolver: Resolver;
  beforeAll(async () => {
    f = await startDdnsFixture();
    resolver = resolverFor(f.port);
  });
  afterAll(async () => {
    await f?.stop();
  });

  it('SOA and NS at each apex with the AA flag, never RA, TTL 60 (dig and Node resolver)', async () => {
    const soa = await dig(f.port, [TUNNEL_ZONE, 'SOA']);
    expect(soa).toContain('status: NOERROR');
    expect(soa).toMatch(/flags: qr aa rd;/);
    expect(soa).toMatch(new RegExp(`^${TUNNEL_ZONE}\\.\\s+60\\s+IN\\s+SOA\\s+ns1\\.${TUNNEL_ZONE}\\. hostmaster\\.${TUNNEL_ZONE}\\.`, 'm'));
    const dynSoa = await resolver.resolveSoa(DYN_ZONE);
    expect(dynSoa).toMatchObject({ nsname: `ns1.${TUNNEL_ZONE}`, hostmaster: `hostmaster.${TUNNEL_ZONE}`, minttl: 60 });
    const ns = await dig(f.port, [DYN_ZONE, 'NS']);
    expect(ns).toMatch(new RegExp(`^${DYN_ZONE}\\.\\s+60\\s+IN\\s+NS\\s+ns1\\.${TUNNEL_ZONE}\\.`, 'm'));
    expect(ns).toMatch(new RegExp(`^ns1\\.${TUNNEL_ZONE}\\.\\s+60\\s+IN\\s+A\\s+192\\.0\\.2\\.53`, 'm'));
    expect(await resolver.resolveNs(TUNNEL_ZONE)).toEqual([`ns1.${TUNNEL_ZONE}`]);
    for (const r of [soa, ns]) expect(r).not.toMatch(/flags:[^;]* ra[ ;]/);
  });

  it('every name in the tunnel zone answers the edges: the fixed address and those edges announce', async () => {
    expect(await resolver.resolve4(`demo.${TUNNEL_ZONE}`)).toEqual(['192.0.2.10']);
    await announceEdge(f.nc, 'edge-a', ['198.51.100.1'], ['2001:db8::1']);
    await eventually(async () => expect((await resolver.resolve4(`x.y.z.${TUNNEL_ZONE}`)).sort()).toEqual(['192.0.2.10', '198.51.100.1']));
    expect(await resolver.resolve6(`mycluster.alice.eu.${TUNNEL_ZONE}`)).toEqual(['2001:db8::1']);
    expect((await dig(f.port, [`demo.${TUNNEL_ZONE}`, 'A', '+short'])).trim().split('\n').sort()).toEqual(['192.0.2.10', '198.51.100.1']);
    await announceEdge(f.nc, 'edge-a', [], []);
    await eventually(async () => expect(await resolver.resolve4(`demo.${TUNNEL_ZONE}`)).toEqual(['192.0.2.10']));
    const noAaaa = decode((await udpExchange(f.port, query(`demo.${TUNNEL_ZONE}`, 'AAAA')))!);
    expect(noAaaa).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect(noAaaa.authorities?.[0]).toMatchObject({ type: 'SOA', name: TUNNEL_ZONE });
  });

  it('NXDOMAIN with the SOA for unknown dyn names, REFUSED for zones it does not serve', async () => {
    const nx = await dig(f.port, [`nobody.${DYN_ZONE}`, 'A']);
    expect(nx).toContain('status: NXDOMAIN');
    expect(nx).toMatch(/flags: qr aa rd;/);
    expect(nx).toMatch(new RegExp(`AUTHORITY SECTION:\\n${DYN_ZONE.replace(/\./g, '\\.')}\\.\\s+60\\s+IN\\s+SOA`));
    await expect(resolver.resolve4(`nobody.${DYN_ZONE}`)).rejects.toMatchObject({ code: 'ENOTFOUND' });
    const refused = await dig(f.port, ['example.com', 'A']);
    expect(refused).toContain('status: REFUSED');
    expect(refused).not.toMatch(/flags:[^;]* aa/);
    await expect(resolver.resolve4('example.com')).rejects.toMatchObject({ code: 'EREFUSED' });
  });

  it('dyn names follow the routes and each agent’s reported address; wildcards, empty non-terminals', async () => {
    await putRoute(f.nc, 'mycluster', `mycluster.alice.eu.${TUNNEL_ZONE}`);
    await putRoute(f.nc, 'mycluster', `*.mycluster.alice.eu.${TUNNEL_ZONE}`);
    await putRoute(f.nc, 'mycluster', 'home.example.com'); // a custom domain: no dyn name of its own
    await reportAgent(f.nc, 'mycluster', '203.0.113.7', '2001:db8::7');
    const name = `mycluster.alice.eu.${DYN_ZONE}`;
    await eventually(async () => expect(await resolver.resolve4(name)).toEqual(['203.0.113.7']));
    expect(await resolver.resolve6(name)).toEqual(['2001:db8::7']);
    expect(await resolver.resolve4(`api.mycluster.alice.eu.${DYN_ZONE}`)).toEqual(['203.0.113.7']);
    const ent = await dig(f.port, [`alice.eu.${DYN_ZONE}`, 'A']);
    expect(ent).toContain('status: NOERROR');
    expect(ent).toContain('ANSWER: 0');
    // the report changes: the answer follows at once
    await reportAgent(f.nc, 'mycluster', '203.0.113.8');
    await eventually(async () => expect(await resolver.resolve4(name)).toEqual(['203.0.113.8']));
    await expect(resolver.resolve6(name)).rejects.toMatchObject({ code: 'ENODATA' });
    await deleteRoute(f.nc, 'mycluster', `mycluster.alice.eu.${TUNNEL_ZONE}`);
    await deleteRoute(f.nc, 'mycluster', `*.mycluster.alice.eu.${TUNNEL_ZONE}`);
    await eventually(async () => expect(await dig(f.port, [name, 'A'])).toContain('status: NXDOMAIN'));
    expect(await dig(f.port, [`alice.eu.${DYN_ZONE}`, 'A'])).toContain('status: NXDOMAIN');
  });

  it('echoes the question byte for byte: mixed case (0x20) and labels with any octet', async () => {
    const labels = [Buffer.from('dEmO'), Buffer.from([0x00, 0x2e, 0xff, 0x41]), Buffer.from('SlUiCe'), Buffer.from('TeSt')];
    const q = rawQuery(labels, 1, { id: 0x1234 });
    const r = (await udpExchange(f.port, q))!;
    expect(r.readUInt16BE(0)).toBe(0x1234);
    expect(rcodeOf(r)).toBe(0);
    const qLen = q.length - 12;
    expect(r.subarray(12, 12 + qLen).equals(q.subarray(12))).toBe(true);
    // the answer's owner is a pointer to the question: the same bytes, the same case
    expect(r.subarray(12 + qLen, 12 + qLen + 2).equals(Buffer.from([0xc0, 12]))).toBe(true);
    const dug = await dig(f.port, ['DeMo.SlUiCe.TeSt', 'A']);
    expect(dug).toMatch(/^DeMo\.SlUiCe\.TeSt\.\s+60\s+IN\s+A\s+192\.0\.2\.10/m);
  });

  it('no answer at all to a response (QR=1); FORMERR, NOTIMP, BADVERS, REFUSED AXFR, minimal ANY', async () => {
    const resp = query(`demo.${TUNNEL_ZONE}`, 'A');
    resp.writeUInt16BE(resp.readUInt16BE(2) | QR, 2);
    expect(await udpExchange(f.port, resp, 300)).toBeNull();
    expect(await udpExchange(f.port, Buffer.from([1, 2, 3]), 300)).toBeNull();
    const garbled = rawQuery([Buffer.from('x')], 1);
    garbled[12] = 0xc0; // a pointer where the question's first label should be
    const fe = (await udpExchange(f.port, garbled))!;
    expect(rcodeOf(fe)).toBe(1);
    expect(flagsOf(fe) & RA).toBe(0);
    const notify = query(TUNNEL_ZONE, 'SOA');
    notify.writeUInt16BE((notify.readUInt16BE(2) & ~0x7800) | (4 << 11), 2);
    expect(rcodeOf((await udpExchange(f.port, notify))!)).toBe(4);
    const v1 = rawQuery([Buffer.from('demo'), Buffer.from('sluice'), Buffer.from('test')], 1, { edns: 1232 });
    v1[v1.length - 5] = 1; // EDNS version 1
    const bv = (await udpExchange(f.port, v1))!;
    const opt = decode(bv).additionals?.find((a) => a.type === 'OPT') as { extendedRcode?: number } | undefined;
    expect(((opt?.extendedRcode ?? 0) << 4) | rcodeOf(bv)).toBe(16); // BADVERS
    expect(await dig(f.port, [TUNNEL_ZONE, 'SOA', '+edns=1', '+noednsnegotiation'])).toContain('status: BADVERS');
    const axfr = await dig(f.port, [TUNNEL_ZONE, 'AXFR']);
    expect(axfr).toMatch(/Transfer failed|REFUSED/);
    const any = await dig(f.port, [`demo.${TUNNEL_ZONE}`, 'ANY']);
    expect(any).toMatch(/HINFO\s+"RFC8482" ""/);
  });

  it('truncates over UDP: 512 bytes without EDNS, the advertised size with it; dig then gets it all over TCP', async () => {
    const many = Array.from({ length: 60 }, (_, i) => `198.51.100.${i + 1}`);
    await announceEdge(f.nc, 'edge-big', many);
    const name = `big.${TUNNEL_ZONE}`;
    await eventually(async () => expect((await resolver.resolve4(name)).length).toBe(61));
    const classic = (await udpExchange(f.port, query(name, 'A')))!;
    expect(classic.length).toBeLessThanOrEqual(512);
    expect(flagsOf(classic) & TC).toBe(TC);
    expect(decode(classic).answers).toEqual([]);
    const small = (await udpExchange(f.port, query(name, 'A', { edns: 700 })))!;
    expect(small.length).toBeLessThanOrEqual(700);
    expect(flagsOf(small) & TC).toBe(TC);
    const large = (await udpExchange(f.port, query(name, 'A', { edns: 4096 })))!;
    expect(flagsOf(large) & TC).toBe(0);
    expect(large.length).toBeLessThanOrEqual(1232);
    expect(decode(large).answers).toHaveLength(61);
    // compressed: each A record is 16 bytes (2-byte pointer owner), not 16 + the name
    expect(large.length).toBeLessThan(12 + name.length + 2 + 4 + 61 * 16 + 11 + 4);
    const truncated = await dig(f.port, [name, 'A', '+noedns', '+ignore']);
    expect(truncated).toMatch(/flags: qr aa tc rd;/);
    const retried = await dig(f.port, [name, 'A', '+noedns']);
    expect(retried).toContain('ANSWER: 61');
    expect(retried).toContain('(TCP)');
    await announceEdge(f.nc, 'edge-big', []);
  });

  it('over TCP: frames split byte by byte, pipelined queries answered in order; a zero length closes', async () => {
    const qs = [query(`a.${TUNNEL_ZONE}`, 'A', { id: 1 }), query(`nobody.${DYN_ZONE}`, 'A', { id: 2 }), query('example.org', 'A', { id: 3 })];
    const { answers } = await tcpExchange(f.port, qs, { segment: 1 });
    expect(answers.map((a) => [a.readUInt16BE(0), rcodeOf(a), (flagsOf(a) & AA) !== 0])).toEqual([
      [1, 0, true],
      [2, 3, true],
      [3, 5, false],
    ]);
    const bad = await tcpExchange(f.port, [Buffer.alloc(0)], { expect: 1, timeoutMs: 2000 });
    expect(bad.closed).toBe(true);
    expect(bad.answers).toEqual([]);
  });
});

describe('response rate limiting (on by default)', () => {
  it('answers a source up to its rate, then slips (TC) or drops; TCP is not limited but idle TCP is closed', async () => {
    const f = await startDdnsFixture({ rateLimit: { responsesPerSecond: 5, slip: 2 }, tcp: { idleMs: 300 } });
    try {
      const q = query(`demo.${TUNNEL_ZONE}`, 'A');
      // 20 queries within one second from one source
      const replies = await Promise.all(Array.from({ length: 20 }, () => udpExchange(f.port, q, 700)));
      const full = replies.filter((r) => r && (flagsOf(r) & TC) === 0).length;
      const slipped = replies.filter((r) => r && (flagsOf(r) & TC) !== 0).length;
      const dropped = replies.filter((r) => r === null).length;
      expect(full).toBeLessThanOrEqual(10); // at most two one-second windows
      expect(full).toBeGreaterThanOrEqual(5);
      expect(slipped).toBeGreaterThan(0);
      expect(dropped).toBeGreaterThan(0);
      const { answers } = await tcpExchange(f.port, Array.from({ length: 20 }, () => q));
      expect(answers).toHaveLength(20);
      const t0 = Date.now();
      const idle = await tcpExchange(f.port, [], { expect: 1, timeoutMs: 3000 });
      expect(idle.closed).toBe(true);
      expect(Date.now() - t0).toBeLessThan(2500);
    } finally {
      await f.stop();
    }
  });
});
