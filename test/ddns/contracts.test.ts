import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { dnsCodecs, dnsSubjects, parseDnsSubject, InvalidMessageError } from '@sluice/contracts';

const te = new TextEncoder();

describe('DNS contracts (libs/contracts/src/dns.ts)', () => {
  it('subjects name what they carry, and parse back; other subjects are not DNS inputs', () => {
    expect(parseDnsSubject(dnsSubjects.agentAddress('mycluster'))).toEqual({ kind: 'agent-address', agentId: 'mycluster' });
    expect(parseDnsSubject(dnsSubjects.edgeAddress('e-1'))).toEqual({ kind: 'edge-address', edgeId: 'e-1' });
    const name = '_acme-challenge.app.alice.eu.sluice.test';
    expect(dnsSubjects.acmeTxt(name)).toMatch(/^sluice\.dns\.txt\.[0-9a-f]+$/);
    expect(parseDnsSubject(dnsSubjects.acmeTxt(name))).toEqual({ kind: 'acme-txt', name });
    for (const s of ['sluice.dns.agent.a.b.address', 'sluice.dns.agent.*.address', 'sluice.dns.txt.zz', 'sluice.agent.x.heartbeat', 'sluice.dns.txt.abc']) expect(parseDnsSubject(s)).toBeNull();
    fc.assert(fc.property(fc.string(), (s) => void parseDnsSubject(s)));
  });

  it('address reports accept only real addresses, with a precise reason otherwise', () => {
    const ok = { v: 1, agentId: 'a', ipv4: '203.0.113.7', ipv6: '2001:db8::7', source: 'nats', ts: 1 };
    expect(dnsCodecs.agentAddress.decode(te.encode(JSON.stringify(ok)))).toEqual(ok);
    expect(() => dnsCodecs.agentAddress.decode(te.encode(JSON.stringify({ ...ok, ipv4: '203.0.113.300' })))).toThrow(/\/ipv4/);
    expect(() => dnsCodecs.agentAddress.decode(te.encode(JSON.stringify({ ...ok, ipv6: 'fe80::1::2' })))).toThrow(/\/ipv6/);
    expect(() => dnsCodecs.edgeAddress.decode(te.encode(JSON.stringify({ v: 1, edgeId: 'e', ipv4: ['1.2.3.4', 'x'], ipv6: [], ts: 1 })))).toThrow(InvalidMessageError);
    expect(() => dnsCodecs.acmeTxt.decode(te.encode(JSON.stringify({ v: 1, name: 'www.example.com', rdata: [], keyName: 'k', ts: 1 })))).toThrow(/\/name/);
  });
});
