import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { patternDigest, startNatsCluster, type AssetLeader, type NatsClusterHandle } from '@sluice/testing';
import { get } from '../support/http.ts';
import { startClusterGateway, DEMO_HOST, type ClusterGateway } from './support/gateway.ts';
import { download, waitFor, type RunningDownload, type Transfer } from './support/transfer.ts';

const MiB = 1024 * 1024;

/**
 * Issue 10: new connections work again within 10 s of losing a server. What that time is made of
 * (see the `failover` line each run prints): nats-server's Raft elects a new leader for each
 * stream and consumer the dead server led 4-9 s after it last heard from it (fixed in 2.9's
 * server/raft.go), and nothing is stored or delivered through those until then; each waiting
 * pull died with its leader, and libs/nats re-issues it within about a second of the new leader
 * (runPullConsumer). The agent's own reconnect takes milliseconds.
 */
const NEW_CONNECTIONS_WITHIN_MS = 10_000;

/**
 * Watches the replicated streams and consumers `killed` led until each has a new leader (for 15 s
 * at most); `done()` says after how many ms (from `since`) each had one, -1 for one still without.
 * (Single-replica ones, like the ordered consumers behind KV watchers, die with their server.)
 */
function watchElections(cluster: NatsClusterHandle, before: Map<string, AssetLeader>, killed: string, since: number): { done(): Promise<Record<string, number>> } {
  const led = [...before].filter(([, a]) => a.leader === killed && a.replicas > 1).map(([asset]) => asset);
  const elected: Record<string, number> = Object.fromEntries(led.map((a) => [a, -1]));
  const loop = (async () => {
    while (Date.now() - since < 15_000 && Object.values(elected).some((ms) => ms < 0)) {
      const now = await cluster.leaders().catch(() => new Map<string, AssetLeader>());
      for (const asset of led) {
        const leader = now.get(asset)?.leader;
        if (elected[asset]! < 0 && leader !== undefined && leader !== killed) elected[asset] = Date.now() - since;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    async done() {
      await loop;
      return elected;
    },
  };
}

/**
 * Opens a new connection every 250 ms (each waits as long as the edge lets it) until one answers
 * 200; resolves with the milliseconds from `since` to that answer.
 */
async function firstNewConnectionOk(port: number, since: number, limitMs: number): Promise<number> {
  let firstOk = 0;
  const probes: Array<Promise<void>> = [];
  while (firstOk === 0 && Date.now() - since < limitMs) {
    probes.push(
      get(port, DEMO_HOST).then(
        (r) => {
          if (r.status === 200 && firstOk === 0) firstOk = Date.now() - since;
        },
        () => undefined,
      ),
    );
    await new Promise((r) => setTimeout(r, 250));
  }
  await Promise.allSettled(probes);
  if (firstOk === 0) throw new Error(`no new connection answered 200 within ${limitMs} ms`);
  return firstOk;
}

/** The download's outcome, or null if it is still open after `ms`. */
function settledWithin(dl: RunningDownload, ms: number): Promise<Transfer | null> {
  return Promise.race([dl.done, new Promise<null>((r) => setTimeout(() => r(null), ms).unref())]);
}

for (const transport of ['core', 'jetstream'] as const) {
  describe(`${transport}: the server the agent is connected to is killed`, () => {
    const name = `fo-${transport}`;
    const n = 100 * MiB;
    let cluster: NatsClusterHandle;
    let gw: ClusterGateway;
    let port: number;
    let inFlight: RunningDownload;
    let killedAt = 0;
    let elections: ReturnType<typeof watchElections> | undefined;
    beforeAll(async () => {
      cluster = await startNatsCluster({ size: 3, name });
      const [a, b, c] = cluster.urls as [string, string, string];
      gw = await startClusterGateway(transport, { registry: cluster.servers[1]!, edge: a, router: b, agent: c });
      port = gw.stack.httpPort;
    });
    afterAll(async () => {
      await gw?.stop();
      await cluster?.stop();
    });

    it('the agent, which knew only that server, reconnects to another within the reconnect time', async () => {
      expect(await cluster.whereIs('sluice-agent')).toBe(`${name}-2`);
      inFlight = download(port, DEMO_HOST, n, 51);
      await waitFor(() => inFlight.got() > 8 * MiB, 20_000, 'first 8 MiB of the download');
      const before = await cluster.leaders();
      killedAt = Date.now();
      await cluster.kill(2);
      elections = watchElections(cluster, before, `${name}-2`, killedAt);
      // the other servers' URLs come from the cluster's INFO
      await waitFor(async () => (await cluster.whereIs('sluice-agent')) !== undefined, 5_000, 'agent reconnected');
      expect(await cluster.whereIs('sluice-agent')).toMatch(new RegExp(`^${name}-[01]$`));
    });

    it(`new connections work again within ${NEW_CONNECTIONS_WITHIN_MS / 1000} s`, async () => {
      let ms = -1;
      try {
        ms = await firstNewConnectionOk(port, killedAt, NEW_CONNECTIONS_WITHIN_MS);
      } finally {
        // which leaders the dead server took with it, and when each was elected again
        const electedAfterMs = await elections?.done();
        console.log(JSON.stringify({ failover: transport, newConnectionsAfterMs: ms, electedAfterMs }));
      }
      // a probe sent in time may be answered later: the answer is what counts
      expect(ms).toBeLessThanOrEqual(NEW_CONNECTIONS_WITHIN_MS);
    }, 30_000);

    if (transport === 'jetstream') {
      it('the download in flight completes intact: its stream has three replicas, two survive', async () => {
        const r = await inFlight.done;
        console.log(JSON.stringify({ transport, downloadDoneAfterMs: inFlight.closedAt() - killedAt }));
        expect(r).toMatchObject({ status: 200, complete: true, bytes: n, sha256: (await patternDigest(n, 51)).sha256 });
      }, 60_000);
    } else {
      // the agent resets its core sessions when its connection drops; what it publishes while
      // disconnected is discarded by the client, so the transport resets those peers again once
      // it is back (libs/transport): the edge's client is closed, never left hanging
      it('the download in flight is closed, never corrupted, within 5 s', async () => {
        const r = await settledWithin(inFlight, Math.max(0, killedAt + 5_000 - Date.now()));
        expect(r).not.toBeNull();
        expect(r!.complete).toBe(false);
      }, 30_000);
    }

    it('and a whole transfer is intact afterwards', async () => {
      const r = await download(port, DEMO_HOST, 8 * MiB, 52).done;
      expect(r).toMatchObject({ complete: true, sha256: (await patternDigest(8 * MiB, 52)).sha256 });
    }, 30_000);
  });
}
