import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { buckets, streams, codecs } from '@sluice/contracts';
import { ensureStreams, openRoutesBucket, replicasFor } from '@sluice/nats';
import { startNats, startNatsCluster, type NatsClusterHandle, type NatsServerHandle } from '@sluice/testing';
import { captureLogger } from './support/logs.ts';

const routesStream = `KV_${buckets.routes}`;

/** Retries `fn` until it resolves: right after a server dies, JetStream answers once leaders are re-elected. */
async function eventually<T>(fn: () => Promise<T>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function replicasOf(jsm: JetStreamManager, name: string): Promise<{ replicas: number; created: string; peers: number }> {
  const si = await jsm.streams.info(name);
  return { replicas: si.config.num_replicas, created: si.created, peers: 1 + (si.cluster?.replicas?.length ?? 0) };
}

describe('streams and buckets on a single server', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('are created with one replica, and a second ensure changes nothing', async () => {
    expect(replicasFor(nc)).toBe(1);
    const log = captureLogger();
    const jsm = await ensureStreams(nc, { logger: log.logger });
    await openRoutesBucket(nc, { logger: log.logger });
    const first = await Promise.all([streams.ctrl.name, streams.data.name, routesStream].map((n) => replicasOf(jsm, n)));
    for (const s of first) expect(s).toMatchObject({ replicas: 1, peers: 1 });
    await ensureStreams(nc, { logger: log.logger });
    await openRoutesBucket(nc, { logger: log.logger });
    const second = await Promise.all([streams.ctrl.name, streams.data.name, routesStream].map((n) => replicasOf(jsm, n)));
    expect(second).toEqual(first);
    expect(log.messages()).toEqual(['stream created', 'stream created']);
  });
});

describe('streams and buckets on a three-server cluster', () => {
  let cluster: NatsClusterHandle;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  beforeAll(async () => {
    cluster = await startNatsCluster({ size: 3, name: 'rep' });
    nc = await connect({ servers: cluster.urls[0]! });
    jsm = await jetstreamManager(nc);
  });
  afterAll(async () => {
    await nc?.close();
    await cluster?.stop();
  });

  it('are created with three replicas, idempotently', async () => {
    expect(replicasFor(nc)).toBe(3);
    const log = captureLogger();
    await ensureStreams(nc, { logger: log.logger });
    await openRoutesBucket(nc, { logger: log.logger });
    const first = await Promise.all([streams.ctrl.name, streams.data.name, routesStream].map((n) => replicasOf(jsm, n)));
    for (const s of first) expect(s).toMatchObject({ replicas: 3, peers: 3 });
    // from another server, as a second service would
    const other = await connect({ servers: cluster.urls[2]! });
    try {
      await ensureStreams(other, { logger: log.logger });
      await openRoutesBucket(other, { logger: log.logger });
    } finally {
      await other.close();
    }
    const second = await Promise.all([streams.ctrl.name, streams.data.name, routesStream].map((n) => replicasOf(jsm, n)));
    expect(second).toEqual(first);
    expect(log.messages()).toEqual(['stream created', 'stream created']);
  });

  it('raises a stream made with fewer replicas (before the cluster grew); never lowers one', async () => {
    await jsm.streams.delete(streams.ctrl.name);
    await jsm.streams.add({ name: streams.ctrl.name, subjects: [...streams.ctrl.subjects], storage: StorageType.Memory, num_replicas: 1 });
    const log = captureLogger();
    await ensureStreams(nc, { logger: log.logger });
    // the peer set settles a moment after the update is accepted
    await eventually(async () => expect(await replicasOf(jsm, streams.ctrl.name)).toMatchObject({ replicas: 3, peers: 3 }), 10_000);
    expect(log.entries()).toContainEqual(expect.objectContaining({ msg: 'stream replicas raised', stream: streams.ctrl.name, from: 1, to: 3 }));
    // a process that sees fewer servers (one is down) leaves the replicas alone, and says so
    await ensureStreams(nc, { logger: log.logger, replicas: 2 });
    expect(await replicasOf(jsm, streams.ctrl.name)).toMatchObject({ replicas: 3 });
    expect(log.entries()).toContainEqual(expect.objectContaining({ msg: expect.stringMatching(/more replicas/), stream: streams.ctrl.name, replicas: 3, wanted: 2 }));
  });

  it("sets the data stream to the router's choice of replicas, up or down, and no other process undoes it", async () => {
    const log = captureLogger();
    // the router with ROUTER_DATA_REPLICAS=1: cheaper bytes, one copy
    await ensureStreams(nc, { logger: log.logger, dataReplicas: 1 });
    await eventually(async () => expect(await replicasOf(jsm, streams.data.name)).toMatchObject({ replicas: 1, peers: 1 }), 10_000);
    expect(log.entries()).toContainEqual(expect.objectContaining({ msg: 'stream replicas set', stream: streams.data.name, from: 3, to: 1 }));
    // a service without the setting (registry, edge) neither raises it nor touches the control stream
    await ensureStreams(nc, { logger: log.logger });
    expect(await replicasOf(jsm, streams.data.name)).toMatchObject({ replicas: 1 });
    expect(await replicasOf(jsm, streams.ctrl.name)).toMatchObject({ replicas: 3 });
    // and back to three
    await ensureStreams(nc, { logger: log.logger, dataReplicas: 3 });
    await eventually(async () => expect(await replicasOf(jsm, streams.data.name)).toMatchObject({ replicas: 3, peers: 3 }), 10_000);
  });

  it('loses no route record when any one server is killed', async () => {
    // only the bucket here: each restart waits until every stream on the server is current again
    for (const name of [streams.ctrl.name, streams.data.name]) await jsm.streams.delete(name);
    const kv = await openRoutesBucket(nc);
    const records = Array.from({ length: 40 }, (_, i) => ({ key: `agent${i}.host${i}`, hostname: `h${i}.sluice.localhost`, agentId: `agent${i}` }));
    for (const r of records) await kv.put(r.key, codecs.routeRecord.encode({ v: 1, hostname: r.hostname, agentId: r.agentId, createdAt: 1 }));
    for (let victim = 0; victim < 3; victim++) {
      await cluster.kill(victim);
      // read through a server that survived
      const reader = await connect({ servers: cluster.urls[(victim + 1) % 3]! });
      try {
        // direct gets: any surviving replica answers, no leader election to wait for
        const rkv = await new Kvm(reader).open(buckets.routes, { allow_direct: true });
        const seen: string[] = [];
        for (const r of records) {
          const e = await eventually(() => rkv.get(r.key), 15_000);
          if (e && e.operation === 'PUT') seen.push(codecs.routeRecord.decode(e.value).hostname);
        }
        expect(seen, `after killing server ${victim}`).toEqual(records.map((r) => r.hostname));
      } finally {
        await reader.close();
      }
      await cluster.restart(victim);
    }
  }, 60_000);
});

describe('a cluster whose servers hide their peers (no_advertise)', () => {
  let cluster: NatsClusterHandle;
  let nc: NatsConnection;
  beforeAll(async () => {
    cluster = await startNatsCluster({ size: 2, name: 'hidden', clusterConfig: 'no_advertise: true' });
    nc = await connect({ servers: cluster.urls[0]! });
  });
  afterAll(async () => {
    await nc?.close();
    await cluster?.stop();
  });

  it('asks for three replicas and takes what the cluster can place, saying so', async () => {
    expect(replicasFor(nc)).toBe(3);
    const log = captureLogger();
    const jsm = await ensureStreams(nc, { logger: log.logger });
    await openRoutesBucket(nc, { logger: log.logger });
    for (const name of [streams.ctrl.name, streams.data.name, routesStream]) expect(await replicasOf(jsm, name)).toMatchObject({ replicas: 2 });
    const stepped = log.entries().filter((e) => e['msg'] === 'the cluster could not place all the replicas wanted; created with fewer');
    expect(stepped.map((e) => [e['stream'], e['replicas']])).toEqual([streams.ctrl.name, streams.data.name, routesStream].map((n) => [n, 2]));
    // a second ensure leaves them as they are, without a warning
    const again = captureLogger();
    await ensureStreams(nc, { logger: again.logger });
    await openRoutesBucket(nc, { logger: again.logger });
    expect(again.entries().filter((e) => Number(e['level']) >= 40)).toEqual([]);
    for (const name of [streams.ctrl.name, streams.data.name, routesStream]) expect(await replicasOf(jsm, name)).toMatchObject({ replicas: 2 });
  });
});
