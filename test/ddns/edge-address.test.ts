import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { dnsCodecs, dnsSubjects } from '@sluice/contracts';
import { startNats } from '@sluice/testing';
import { createEdge, type Edge } from '@sluice/edge';
import { TUNNEL_ZONE, silentLogger, startDdnsFixture, type DdnsFixture } from './support/ddns-fixture.ts';
import { dig } from './support/dns-client.ts';
import { eventually } from './support/events.ts';

/**
 * The tunnel zone answers the edges' public addresses, learned only from the edges' own reports
 * on `sluice.dns.edge.<id>.address`: a new edge appears, a stopped edge disappears at once, and a
 * crashed one (its reports stop) drops out after `edgeAddressMaxAgeSeconds`.
 */
describe('edges announce their public addresses to ddns', () => {
  let f: DdnsFixture;
  let edgeNc: NatsConnection;
  const edges: Edge[] = [];

  beforeAll(async () => {
    f = await startDdnsFixture({ edgeAddresses: { ipv4: [], ipv6: [] }, edgeAddressMaxAgeSeconds: 2 });
    edgeNc = await connect({ servers: f.nats.url });
  });
  afterAll(async () => {
    for (const e of edges) await e.stop().catch(() => undefined);
    await edgeNc?.close();
    await f?.stop();
  });

  const lookup = async (port: number, name: string, type: string): Promise<string[]> =>
    (await dig(port, [name, type, '+short'])).split('\n').filter((l) => l.length > 0).sort();
  const answer = (): Promise<string[]> => lookup(f.port, `app.alice.eu.${TUNNEL_ZONE}`, 'A');

  it('a started edge is answered for every tunnel-zone name; a stopped one is not', async () => {
    const edge = createEdge(
      { httpPort: 0, tlsPort: 0, graceMs: 0, publicAddresses: { ipv4: ['192.0.2.44'], ipv6: ['2001:db8::44'] }, addressReportMs: 300 },
      { nc: edgeNc, logger: silentLogger },
    );
    edges.push(edge);
    await edge.start();
    await eventually(async () => expect(await answer()).toEqual(['192.0.2.44']));
    expect(await lookup(f.port, `x.${TUNNEL_ZONE}`, 'AAAA')).toEqual(['2001:db8::44']);
    // it keeps reporting, so it outlives the 2 s maximum age
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await answer()).toEqual(['192.0.2.44']);
    await edge.stop();
    await eventually(async () => expect(await answer()).toEqual([]));
  });

  it('an edge that stops reporting (crash) is dropped after the maximum age; a restarted ddns never loads it', async () => {
    await jetstream(f.nc).publish(dnsSubjects.edgeAddress('crashed'), dnsCodecs.edgeAddress.encode({ v: 1, edgeId: 'crashed', ipv4: ['192.0.2.99'], ipv6: [], ts: Date.now() }));
    await eventually(async () => expect(await answer()).toEqual(['192.0.2.99']));
    await eventually(async () => expect(await answer()).toEqual([]), 8_000);
    const again = await f.startDdns();
    expect(await lookup(again.address().port, `app.${TUNNEL_ZONE}`, 'A')).toEqual([]);
  });

  it('an edge that starts before ddns (no DNS stream yet) is answered soon after ddns starts, not a period later', async () => {
    const nats = await startNats();
    const nc = await connect({ servers: nats.url });
    const edge = createEdge({ httpPort: 0, tlsPort: 0, graceMs: 0, publicAddresses: { ipv4: ['192.0.2.77'], ipv6: [] }, addressReportMs: 60_000 }, { nc, logger: silentLogger });
    try {
      await edge.start();
      await new Promise((r) => setTimeout(r, 500));
      const late = await startDdnsFixture({ edgeAddresses: { ipv4: [], ipv6: [] } }, nats);
      try {
        await eventually(async () => expect(await lookup(late.port, `app.${TUNNEL_ZONE}`, 'A')).toEqual(['192.0.2.77']), 8_000);
      } finally {
        await late.stop();
      }
    } finally {
      await edge.stop();
      await nc.close();
      await nats.stop();
    }
  });
});
