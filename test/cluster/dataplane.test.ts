import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { demoCertPaths } from '@sluice/demo';
import { patternDigest, patternStream, startNatsCluster, type NatsClusterHandle } from '@sluice/testing';
import { get, h2Get } from '../support/http.ts';
import { startClusterGateway, DEMO_HOST, type ClusterGateway } from './support/gateway.ts';
import { download, upload } from './support/transfer.ts';

const MiB = 1024 * 1024;

// One three-server cluster for the file; each transport gets its own gateway on it, with the edge
// on server 0, the router (and registry) on 1 and the agent on 2: every byte crosses a route.
let cluster: NatsClusterHandle;
beforeAll(async () => {
  cluster = await startNatsCluster({ size: 3, name: 'dp' });
});
afterAll(async () => {
  await cluster?.stop();
});

for (const transport of ['core', 'jetstream'] as const) {
  describe(`three-server cluster over ${transport}`, () => {
    let gw: ClusterGateway;
    let port: number;
    beforeAll(async () => {
      const [a, b, c] = cluster.urls as [string, string, string];
      gw = await startClusterGateway(transport, { registry: cluster.servers[1]!, edge: a, router: b, agent: c });
      port = gw.stack.httpPort;
    });
    afterAll(async () => {
      await gw?.stop();
    });

    it('runs each service on its own server', async () => {
      expect(await cluster.whereIs('sluice-edge')).toBe('dp-0');
      expect(await cluster.whereIs('sluice-router')).toBe('dp-1');
      expect(await cluster.whereIs('sluice-agent')).toBe('dp-2');
    });

    it('routes HTTP by Host to the agent and upstream', async () => {
      const r = await get(port, DEMO_HOST);
      expect(r.status).toBe(200);
      expect(r.body.toString()).toContain(DEMO_HOST);
      expect((await get(port, 'nobody.sluice.localhost')).status).toBe(404);
    });

    it('passes TLS through by SNI: HTTP/2 with the upstream certificate', async () => {
      const { alpn, body } = await h2Get(gw.stack.tlsPort, DEMO_HOST, readFileSync(demoCertPaths.ca));
      expect(alpn).toBe('h2');
      expect(body).toContain('HTTP/2');
    });

    it('moves 100 MiB down and 100 MiB up intact (SHA-256)', async () => {
      const n = 100 * MiB;
      const down = await download(port, DEMO_HOST, n, 41).done;
      expect(down).toMatchObject({ status: 200, complete: true, ...(await patternDigest(n, 41)) });
      expect(await upload(port, DEMO_HOST, n, 42)).toEqual(await patternDigest(n, 42));
    }, 60_000);

    it('carries 100 concurrent connections each echoing 1 MiB intact', async () => {
      const expected = (await patternDigest(MiB, 3)).sha256;
      const results = await Promise.all(
        Array.from({ length: 100 }, () => get(port, DEMO_HOST, '/echo', { method: 'POST', body: patternStream(MiB, 3) })),
      );
      const bad = results.filter((r) => r.status !== 200 || createHash('sha256').update(r.body).digest('hex') !== expected);
      expect(bad.length).toBe(0);
    }, 60_000);
  });
}
