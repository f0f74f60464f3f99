import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import fc from 'fast-check';
import dnsPacket from 'dns-packet';
import { startNats, spawnService, type NatsServerHandle, type ServiceProcess } from '@sluice/testing';
import { Responder, type Reply } from '../../services/ddns/src/responder.ts';
import { ZoneStore } from '../../services/ddns/src/zone-store.ts';
import { createUpdateHandler } from '../../services/ddns/src/update.ts';
import { readMessage } from '../../services/ddns/src/wire/message-reader.ts';
import { DYN_ZONE, TUNNEL_ZONE, silentLogger } from './support/ddns-fixture.ts';
import { FUZZ_KEY, fuzzPackets, mutated, randomPacket, seedCorpus } from './support/packets.ts';
import { query, udpExchange } from './support/dns-client.ts';

const QR = 0x8000;
const RA = 0x0080;

/** What every response must be, whatever the query: ours, well formed, within its size limit. */
function checkReply(input: Buffer, reply: Reply | null): void {
  const flags = input.length >= 4 ? input.readUInt16BE(2) : 0;
  if (input.length < 12 || (flags & QR) !== 0) {
    expect(reply).toBeNull();
    return;
  }
  expect(reply).not.toBeNull();
  const m = reply!.message;
  expect(m.readUInt16BE(0)).toBe(input.readUInt16BE(0));
  expect(m.readUInt16BE(2) & QR).toBe(QR);
  expect(m.readUInt16BE(2) & RA).toBe(0);
  let limit = 512;
  try {
    const q = readMessage(input);
    if (q.opt) limit = Math.min(1232, q.opt.udpSize);
  } catch {
    expect(m.length).toBe(12); // FORMERR: the header alone
  }
  expect(m.length).toBeLessThanOrEqual(limit);
  expect(() => dnsPacket.decode(m)).not.toThrow();
}

function inProcessResponder(): Responder {
  const store = new ZoneStore(
    {
      tunnelZone: TUNNEL_ZONE,
      dynZone: DYN_ZONE,
      ttl: 60,
      hostmaster: `hostmaster.${TUNNEL_ZONE}`,
      nameservers: [{ name: `ns1.${TUNNEL_ZONE}`, ipv4: ['192.0.2.53'], ipv6: [] }],
      staticEdges: { ipv4: Array.from({ length: 40 }, (_, i) => `192.0.2.${i + 1}`), ipv6: ['2001:db8::1'] },
      soaTimers: { refresh: 3600, retry: 600, expire: 86400 },
    },
    1_700_000_000,
  );
  store.putRoute('a.x', `a.b.${TUNNEL_ZONE}`, 'a');
  store.putRoute('a.w', `*.w.${TUNNEL_ZONE}`, 'a');
  store.setAgentAddress('a', '203.0.113.1', '2001:db8::2');
  const keys = new Map([[FUZZ_KEY.name.key, FUZZ_KEY]]);
  let responder!: Responder;
  const onUpdate = createUpdateHandler(
    {
      store,
      policies: new Map([[FUZZ_KEY.name.key, { key: FUZZ_KEY, names: [`*.${TUNNEL_ZONE}`] }]]),
      logger: silentLogger,
      commit: async (changes) => {
        for (const c of changes) store.setTxt(c.name, c.rdata, c.keyName);
      },
    },
    () => responder,
  );
  responder = new Responder(store, { maxUdpPayload: 1232, tsigKeys: keys, now: () => Math.floor(Date.now() / 1000) }, onUpdate);
  return responder;
}

describe('fuzz: malformed, truncated and hostile packets', () => {
  it('the responder never throws and answers every request well formed and within size (fast-check, 10,000 runs)', async () => {
    const responder = inProcessResponder();
    const corpus = seedCorpus();
    for (const p of corpus) checkReply(p, await responder.handle(p, 'udp'));
    await fc.assert(
      fc.asyncProperty(fc.oneof(randomPacket(), mutated(corpus)), async (p) => {
        checkReply(p, await responder.handle(p, 'udp'));
        const tcp = await responder.handle(p, 'tcp');
        if (tcp) expect(() => dnsPacket.decode(tcp.message)).not.toThrow();
      }),
      { numRuns: 10_000, seed: 20_261_124 },
    );
  }, 60_000);

  describe('against the real server process', () => {
    let nats: NatsServerHandle;
    let ddns: ServiceProcess;
    let port: number;
    let opsPort: number;
    beforeAll(async () => {
      nats = await startNats();
      ddns = await spawnService('ddns', 'services/ddns/src/main.ts', {
        NATS_URL: nats.url,
        OPS_PORT: '0',
        LOG_LEVEL: 'error',
        DDNS_CONFIG_JSON: JSON.stringify({
          tunnelZone: TUNNEL_ZONE,
          dynZone: DYN_ZONE,
          port: 0,
          edgeAddresses: { ipv4: ['192.0.2.10'] },
          rateLimit: false,
          tsigKeys: [{ name: 'fuzz-key', secret: FUZZ_KEY.secret.toString('base64'), names: [`*.${TUNNEL_ZONE}`] }],
        }),
      });
      port = (ddns.ready.dns as { port: number }).port;
      opsPort = Number(ddns.ready.opsPort);
    });
    afterAll(async () => {
      await ddns?.stop(10_000);
      await nats?.stop();
    });

    const processed = async (): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
      let n = 0;
      for (const m of text.matchAll(/^sluice_dns_(?:responses|dropped)_total\{[^}]*transport="udp"[^}]*\} (\d+)|^sluice_dns_dropped_total\{[^}]*reason="malformed"[^}]*\} (\d+)/gm)) n += Number(m[1] ?? m[2]);
      return n;
    };

    it('survives 100,000 random and mutated UDP packets, answers each one it should, and still serves', async () => {
      const packets = fuzzPackets(100_000, 5353);
      const sock = createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      let bad = 0;
      let seen = 0;
      let firstBad: string | undefined;
      const barriers = new Map<number, () => void>();
      sock.on('message', (m) => {
        const flags = m.readUInt16BE(2);
        const ok = (flags & QR) !== 0 && (flags & RA) === 0 && m.length <= 1232;
        let decoded = true;
        // every answer's header is checked; one in ten is decoded whole (the in-process property
        // above decodes every one)
        if (seen++ % 10 === 0) {
          try {
            dnsPacket.decode(m);
          } catch {
            decoded = false;
          }
        }
        if (!ok || !decoded) {
          bad++;
          firstBad ??= m.toString('hex');
        }
        // barrier queries use a name of their own: their answer says all before them were read
        if (m.length > 20 && m.includes(Buffer.from('barrier'))) barriers.get(m.readUInt16BE(0))?.();
      });
      const before = await processed();
      const batch = 500;
      for (let i = 0; i < packets.length; i += batch) {
        for (const p of packets.slice(i, i + batch)) sock.send(p, port, '127.0.0.1');
        const id = (i / batch) & 0xffff;
        const barrier = query(`barrier.${TUNNEL_ZONE}`, 'A', { id });
        await new Promise<void>((resolve) => {
          const resend = setInterval(() => sock.send(barrier, port, '127.0.0.1'), 1000);
          barriers.set(id, () => {
            clearInterval(resend);
            barriers.delete(id);
            resolve();
          });
          sock.send(barrier, port, '127.0.0.1');
        });
      }
      sock.close();
      expect(bad, firstBad).toBe(0);
      // every packet was read and either answered or dropped on purpose (short, or a response)
      expect((await processed()) - before).toBeGreaterThanOrEqual(packets.length);
      expect(ddns.child.exitCode).toBeNull();
      const r = await udpExchange(port, query(`demo.${TUNNEL_ZONE}`, 'A'));
      expect(dnsPacket.decode(r!).answers).toMatchObject([{ type: 'A', data: '192.0.2.10' }]);
    }, 60_000);

    it('survives random frames over TCP, split at random points, and still serves', async () => {
      const packets = fuzzPackets(3_000, 853);
      const conns = 30;
      await Promise.all(
        Array.from({ length: conns }, (_, c) =>
          new Promise<void>((resolve) => {
            const sock = connect({ host: '127.0.0.1', port });
            sock.on('error', () => undefined);
            sock.on('close', () => resolve());
            sock.on('data', () => undefined);
            sock.on('connect', () => {
              const mine = packets.filter((_, i) => i % conns === c);
              const stream = Buffer.concat(mine.map((p) => Buffer.concat([Buffer.from([p.length >> 8, p.length & 0xff]), p])));
              // odd-sized pieces so frames straddle writes
              for (let i = 0; i < stream.length; i += 97 + c) sock.write(stream.subarray(i, i + 97 + c));
              sock.end();
            });
            setTimeout(() => sock.destroy(), 5000);
          }),
        ),
      );
      expect(ddns.child.exitCode).toBeNull();
      const r = await udpExchange(port, query(`x.${DYN_ZONE}`, 'A'));
      expect(r!.readUInt16BE(2) & 0xf).toBe(3); // NXDOMAIN
    }, 30_000);
  });
});
