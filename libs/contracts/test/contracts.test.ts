import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { codecs, InvalidMessageError, isValidRouteHostname, normalizeHostname, routeCandidates, subjects, parseDataSubject, hostnameToKey, keyToHostname } from '../src/index.ts';

const te = new TextEncoder();

describe('codecs validate at the boundary', () => {
  it('round-trips a valid message', () => {
    const ev = { v: 1 as const, connId: 'abc', edgeId: 'e1', host: 'demo.sluice.localhost', proto: 'http' as const, clientAddr: '127.0.0.1', clientPort: 5000, ts: 1 };
    expect(codecs.connOpened.decode(codecs.connOpened.encode(ev))).toEqual(ev);
  });

  it('rejects with a precise reason', () => {
    expect(() => codecs.connOpened.decode(te.encode('{nope'))).toThrow(/ConnOpened: not JSON/);
    expect(() => codecs.connOpened.decode(te.encode(JSON.stringify({ v: 1, connId: 'a.b' })))).toThrow(InvalidMessageError);
    const bad = { v: 1, connId: 'a.b', edgeId: 'e1', host: 'h', proto: 'http', clientAddr: '', clientPort: 1, ts: 1 };
    expect(() => codecs.connOpened.decode(te.encode(JSON.stringify(bad)))).toThrow(/ConnOpened: \/connId: Expected string to match/);
    expect(() => codecs.routeResult.decode(te.encode(JSON.stringify({ v: 2, connId: 'a', status: 'assigned' })))).toThrow(/RouteResult: \/v/);
  });

  it('never throws anything but InvalidMessageError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          codecs.registerRequest.decode(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidMessageError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('hostnames', () => {
  it('normalizes and validates route names', () => {
    expect(normalizeHostname(' Demo.Sluice.Localhost. ')).toBe('demo.sluice.localhost');
    expect(isValidRouteHostname('demo.sluice.localhost')).toBe(true);
    expect(isValidRouteHostname('*.apps.sluice.localhost')).toBe(true);
    for (const bad of ['', '*', '*.com', 'a..b', '-a.b', 'a.*.b', 'a b.c', 'x'.repeat(64) + '.com']) expect(isValidRouteHostname(bad), bad).toBe(false);
  });

  it('looks up exact names first, then the nearest wildcard', () => {
    expect(routeCandidates('a.b.apps.example.com')).toEqual(['a.b.apps.example.com', '*.b.apps.example.com', '*.apps.example.com', '*.example.com']);
  });

  it('keeps wildcards apart from names in KV keys', () => {
    expect(keyToHostname(hostnameToKey('*.a.b'))).toBe('*.a.b');
    expect(hostnameToKey('*.a.b')).not.toContain('*');
  });
});

describe('subjects', () => {
  it('scopes every byte subject to one agent, edge and connection', () => {
    const s = subjects.data('core', 'agent1', 'edge1', 'conn1', 'up');
    expect(s).toBe('sluice.d.agent1.edge1.conn1.up');
    expect(parseDataSubject(s)).toEqual({ agentId: 'agent1', edgeId: 'edge1', connId: 'conn1', dir: 'up' });
    expect(subjects.dataForAgent('jetstream', 'agent1')).toBe('sluice.s.agent1.*.*.up');
    expect(parseDataSubject('sluice.d.a.b.c.sideways')).toBeNull();
  });
});
