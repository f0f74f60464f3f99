import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { pino } from 'pino';
import { startNatsCluster, type NatsClusterHandle } from '@sluice/testing';
import { ensurePullConsumer, ensureStreams, runPullConsumer, type RunningConsumer } from '../src/index.ts';

const logger = pino({ level: 'silent' });
const STREAM = 'SLUICE_CTRL';
const DURABLE = 'failover-probe';
const FILTER = 'sluice.conn.opened.>';

describe('runPullConsumer when the server leading its consumer is killed', () => {
  let cluster: NatsClusterHandle;
  const ncs: NatsConnection[] = [];
  let consumer: RunningConsumer | undefined;
  beforeAll(async () => {
    cluster = await startNatsCluster({ size: 3, name: 'pull' });
  });
  afterAll(async () => {
    await consumer?.stop();
    for (const nc of ncs) await nc.close().catch(() => undefined);
    await cluster?.stop();
  });

  it('pulls again as soon as the consumer has a new leader, and loses nothing the stream stored', async () => {
    const nc0 = await connect({ servers: cluster.urls[0]!, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    ncs.push(nc0);
    await ensureStreams(nc0);
    await ensurePullConsumer(nc0, { stream: STREAM, durable: DURABLE, filterSubject: FILTER }, true);
    const leader = (await (await jetstreamManager(nc0)).consumers.info(STREAM, DURABLE)).cluster?.leader;
    const victim = cluster.servers.findIndex((s) => s.name === leader);
    expect(victim).toBeGreaterThanOrEqual(0);
    const [readAt, writeAt] = [0, 1, 2].filter((i) => i !== victim) as [number, number];
    const reader = await connect({ servers: cluster.urls[readAt]!, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const writer = await connect({ servers: cluster.urls[writeAt]!, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    ncs.push(reader, writer);

    const received: Array<{ n: number; at: number }> = [];
    consumer = await runPullConsumer(reader, { stream: STREAM, durable: DURABLE, filterSubject: FILTER, manage: false }, (m) => {
      received.push({ n: Number(m.subject.split('.').pop()!.slice(1)), at: Date.now() });
    }, logger);

    // one message every 100 ms, kept only when the stream acknowledged it (while the stream has
    // no leader, nothing is stored)
    const js = jetstream(writer, { timeout: 1_000 });
    const stored: Array<{ n: number; at: number }> = [];
    let publishing = true;
    const publisher = (async () => {
      for (let n = 0; publishing; n++) {
        const ok = await js.publish(`sluice.conn.opened.e${n}`, 'x').then(() => true, () => false);
        if (ok) stored.push({ n, at: Date.now() });
        await sleep(100);
      }
    })();
    await sleep(1_000);

    const killedAt = Date.now();
    await cluster.kill(victim);
    let electedAt = 0;
    while (electedAt === 0 && Date.now() - killedAt < 15_000) {
      const l = (await cluster.leaders()).get(`${STREAM}/${DURABLE}`)?.leader;
      if (l !== undefined && l !== leader) electedAt = Date.now();
      else await sleep(50);
    }
    expect(electedAt, 'a new consumer leader within 15 s').toBeGreaterThan(0);
    await sleep(3_000);
    publishing = false;
    await publisher;
    await sleep(500);

    // everything stored arrived, once and in order (one stored as the server died may have lost
    // only its acknowledgement: it may arrive without being counted as stored)
    const got = received.map((r) => r.n);
    expect(got).toEqual([...got].sort((a, b) => a - b));
    expect(new Set(got).size).toBe(got.length);
    expect(stored.map((s) => s.n).filter((n) => !got.includes(n))).toEqual([]);
    // and the first message stored once both had leaders arrived within a second of that
    const storedAfter = stored.find((s) => s.at > electedAt);
    expect(storedAfter).toBeDefined();
    const arrived = received.find((r) => r.n === storedAfter!.n)!;
    expect(arrived.at - Math.max(storedAfter!.at, electedAt)).toBeLessThan(1_000);
    console.log(JSON.stringify({ consumerElectedAfterMs: electedAt - killedAt, firstAfterElectionMs: arrived.at - electedAt }));
  }, 60_000);
});
