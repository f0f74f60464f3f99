import { describe, it, expect } from 'vitest';
import { Resolver } from 'node:dns/promises';
import { jetstream } from '@nats-io/jetstream';
import { dnsCodecs, dnsSubjects } from '@sluice/contracts';
import { DYN_ZONE, TUNNEL_ZONE, startDdnsFixture } from './support/ddns-fixture.ts';
import { dig } from './support/dns-client.ts';
import { announceEdge, eventually, putRoute, reportAgent } from './support/events.ts';

function resolverFor(port: number): Resolver {
  const r = new Resolver({ timeout: 1000, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  return r;
}

describe('records come only from JetStream and survive restarts', () => {
  it('a restarted ddns (and nats-server) answers everything from its first query, without any registry', async () => {
    const f = await startDdnsFixture();
    try {
      // nobody answers registry requests in this test; ddns must not send any
      const registryCalls: string[] = [];
      const spy = f.nc.subscribe('sluice.registry.>', { callback: (_e, m) => void registryCalls.push(m.subject) });
      await putRoute(f.nc, 'nas', `nas.carol.eu.${TUNNEL_ZONE}`);
      await reportAgent(f.nc, 'nas', '203.0.113.50', '2001:db8::50');
      await announceEdge(f.nc, 'edge-1', ['198.51.100.77']);
      await jetstream(f.nc).publish(
        dnsSubjects.acmeTxt(`_acme-challenge.nas.carol.eu.${TUNNEL_ZONE}`),
        dnsCodecs.acmeTxt.encode({ v: 1, name: `_acme-challenge.nas.carol.eu.${TUNNEL_ZONE}`, rdata: [Buffer.from('\u0005hello', 'latin1').toString('base64')], keyName: 'k', ts: Date.now() }),
      );
      // events that must be ignored: an agent naming another agent in its report (its NATS
      // permissions let it publish only on its own subject), and garbage
      await jetstream(f.nc).publish(dnsSubjects.agentAddress('intruder'), dnsCodecs.agentAddress.encode({ v: 1, agentId: 'nas', ipv4: '192.0.2.66', source: 'config', ts: Date.now() }));
      await jetstream(f.nc).publish(dnsSubjects.edgeAddress('edge-2'), new TextEncoder().encode('{not json'));
      const name = `nas.carol.eu.${DYN_ZONE}`;
      await eventually(async () => expect(await resolverFor(f.port).resolve4(name)).toEqual(['203.0.113.50']));

      await f.ddns.stop();
      await f.nats.restart();
      const again = await f.startDdns();
      const port = again.address().port;
      const r = resolverFor(port);
      // no waiting: start() resolved only after the stream and the routes were replayed
      expect(await r.resolve4(name)).toEqual(['203.0.113.50']);
      expect(await r.resolve6(name)).toEqual(['2001:db8::50']);
      expect((await r.resolve4(`x.${TUNNEL_ZONE}`)).sort()).toEqual(['192.0.2.10', '198.51.100.77']);
      expect(await r.resolveTxt(`_acme-challenge.nas.carol.eu.${TUNNEL_ZONE}`)).toEqual([['hello']]);
      spy.unsubscribe();
      expect(registryCalls).toEqual([]);
    } finally {
      await f.stop();
    }
  });

  it('keeps answering while nats-server is down, and follows new reports once it is back', async () => {
    const f = await startDdnsFixture();
    try {
      await putRoute(f.nc, 'pi', `pi.dave.eu.${TUNNEL_ZONE}`);
      await reportAgent(f.nc, 'pi', '203.0.113.60');
      const name = `pi.dave.eu.${DYN_ZONE}`;
      await eventually(async () => expect((await dig(f.port, [name, 'A', '+short'])).trim()).toBe('203.0.113.60'));
      await f.nats.kill();
      expect((await dig(f.port, [name, 'A', '+short'])).trim()).toBe('203.0.113.60');
      await f.nats.restart();
      await eventually(async () => {
        await reportAgent(f.nc, 'pi', '203.0.113.61');
        expect((await dig(f.port, [name, 'A', '+short'])).trim()).toBe('203.0.113.61');
      }, 15_000, 250);
    } finally {
      await f.stop();
    }
  });
});
