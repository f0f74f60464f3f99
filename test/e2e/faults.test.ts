import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { request } from 'node:http';
import { createHash } from 'node:crypto';
import { startTcpProxy, patternDigest, rssKiB, type ServiceProcess } from '@sluice/testing';
import { startGateway, DEMO_TOKEN, type Gateway } from '../support/gateway.ts';
import { get } from '../support/http.ts';

/** Starts a download through the edge; resolves when the client's connection ends. */
function download(port: number, n: number, seed: number, onProgress?: (got: number) => void) {
  const hash = createHash('sha256');
  let got = 0;
  let closedAt = 0;
  const done = new Promise<{ got: number; sha256: string; complete: boolean; status: number }>((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: `/bytes?n=${n}&seed=${seed}`, headers: { host: 'demo.sluice.localhost' }, agent: false }, (res) => {
      res.on('data', (c: Buffer) => {
        got += c.length;
        hash.update(c);
        onProgress?.(got);
      });
      const finish = (): void => {
        closedAt = Date.now();
        resolve({ got, sha256: hash.digest('hex'), complete: res.complete, status: res.statusCode ?? 0 });
      };
      res.once('end', finish);
      res.once('error', finish);
      res.once('aborted', () => undefined);
    });
    req.on('error', () => {
      closedAt = Date.now();
      resolve({ got, sha256: '', complete: false, status: 0 });
    });
    req.end();
  });
  return { done, closedAt: () => closedAt, got: () => got };
}

const waitFor = async (cond: () => boolean | Promise<boolean>, ms: number): Promise<number> => {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await cond()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`condition not met within ${ms} ms`);
};

for (const transport of ['core', 'jetstream'] as const) {
  describe(`faults over ${transport}`, () => {
    let gw: Gateway;
    let port: number;
    beforeAll(async () => {
      gw = await startGateway(transport, { edgeEnv: { EDGE_HEAD_TIMEOUT_MS: '1000', EDGE_RESUME_GRACE_MS: '4000' } });
      port = gw.stack.httpPort;
    });
    afterAll(async () => {
      await gw?.stop();
    });

    it('closes a client that sends no head, or trickles it, at the deadline with 408', async () => {
      const { raw } = await import('../support/http.ts');
      const silent = await raw(port, '', 5000);
      expect(silent.closed).toBe(true);
      expect(silent.text).toMatch(/^HTTP\/1\.1 408/);
      expect(silent.ms).toBeLessThan(2500);
      // one byte every 100 ms never completes a head within 1 s
      const { connect } = await import('node:net');
      const t0 = Date.now();
      const closed = await new Promise<number>((resolve) => {
        const s = connect({ host: '127.0.0.1', port });
        const head = 'GET / HTTP/1.1\r\nHost: demo.sluice.localhost\r\nX-Slow: ' + 'a'.repeat(200);
        let i = 0;
        const iv = setInterval(() => {
          if (!s.destroyed && i < head.length) s.write(head[i++]!);
        }, 100);
        s.on('error', () => undefined);
        s.on('data', () => undefined);
        s.on('close', () => {
          clearInterval(iv);
          resolve(Date.now() - t0);
        });
      });
      expect(closed).toBeLessThan(2500);
    });

    it('a client that stops reading holds memory bounded in every process', async () => {
      const procs = gw.stack.processes().filter((p) => p.name === 'edge' || p.name.startsWith('agent'));
      const pids = [...procs.map((p) => p.pid), gw.stack.nats.pid!];
      const before = pids.map((p) => rssKiB(p));
      let res: import('node:http').IncomingMessage | undefined;
      const req = request({ host: '127.0.0.1', port, path: `/bytes?n=${2 * 1024 * 1024 * 1024}&seed=1`, headers: { host: 'demo.sluice.localhost' }, agent: false }, (r) => {
        res = r;
        r.pause(); // never read
      });
      req.end();
      await new Promise((r) => setTimeout(r, 4000));
      const after = pids.map((p) => rssKiB(p));
      req.destroy();
      res?.destroy();
      const grown = after.map((a, i) => a - before[i]!);
      // a 2 GiB download to a stalled reader may hold only windows and buffers: < 96 MiB each
      for (const g of grown) expect(g).toBeLessThan(96 * 1024);
    });

    it('an agent killed with SIGKILL mid-transfer closes the client promptly; 502 until an agent is back', async () => {
      const dl = download(port, 1024 * 1024 * 1024, 5);
      await waitFor(() => dl.got() > 4 * 1024 * 1024, 10_000);
      const killedAt = Date.now();
      await gw.agent.kill();
      const r = await dl.done;
      expect(r.complete).toBe(false);
      const closeMs = dl.closedAt() - killedAt;
      // core: the router's heartbeat timeout (1.2 s) + a short check; jetstream: + the resume grace
      expect(closeMs).toBeLessThan(transport === 'core' ? 2000 : 7000);
      const waited = await waitFor(async () => (await get(port, 'demo.sluice.localhost')).status === 502, 5000);
      expect(waited).toBeLessThan(5000);
      gw.agent = await gw.startDemoAgent();
      const ok = await get(port, 'demo.sluice.localhost');
      expect(ok.status).toBe(200);
    }, 60_000);

    it('graceful stop of the agent lets in-flight transfers finish intact; new connections are refused cleanly', async () => {
      const n = 32 * 1024 * 1024;
      const want = (await patternDigest(n, 11)).sha256;
      const dls = [download(port, n, 11), download(port, n, 11)];
      await waitFor(() => dls.every((d) => d.got() > 0), 10_000);
      const stopping = gw.agent.stop();
      const results = await Promise.all(dls.map((d) => d.done));
      for (const r of results) expect(r).toMatchObject({ got: n, sha256: want, complete: true });
      await stopping;
      const refused = await get(port, 'demo.sluice.localhost');
      expect(refused.status).toBe(502);
      gw.agent = await gw.startDemoAgent();
      expect((await get(port, 'demo.sluice.localhost')).status).toBe(200);
    }, 60_000);

    it('an edge killed with SIGKILL mid-transfer: the agent closes the upstream connection promptly', async () => {
      const { createServer } = await import('node:http');
      let upstreamClosedAt = 0;
      const slow = createServer((req, res) => {
        req.socket.once('close', () => (upstreamClosedAt = Date.now()));
        res.writeHead(200);
        const iv = setInterval(() => res.write(Buffer.alloc(1024)), 20);
        res.once('close', () => clearInterval(iv));
      });
      await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
      const agent = await gw.stack.startAgent({
        id: 'demo-slow',
        token: DEMO_TOKEN,
        transport,
        ingress: [{ hostname: 'slow.apps.sluice.localhost', service: `http://127.0.0.1:${(slow.address() as import('node:net').AddressInfo).port}` }],
      });
      const doomed = await gw.stack.startEdge();
      try {
        let got = 0;
        const req = request({ host: '127.0.0.1', port: Number(doomed.ready.http), path: '/', headers: { host: 'slow.apps.sluice.localhost' }, agent: false }, (res) => {
          res.on('data', (c: Buffer) => (got += c.length));
          res.on('error', () => undefined);
        });
        req.on('error', () => undefined);
        req.end();
        await waitFor(() => got > 4096, 10_000);
        const killedAt = Date.now();
        await doomed.kill();
        await waitFor(() => upstreamClosedAt > 0, 10_000);
        // router heartbeat timeout (1.2 s) + the agent's check (core 0.3 s, jetstream 5 s)
        expect(upstreamClosedAt - killedAt).toBeLessThan(transport === 'core' ? 2500 : 8000);
      } finally {
        await agent.kill();
        slow.close();
      }
    }, 60_000);

    it('nats-server restarted under the stack: new connections work again within 10 s', async () => {
      await gw.stack.nats.restart();
      const t = await waitFor(async () => {
        try {
          return (await get(port, 'demo.sluice.localhost')).status === 200;
        } catch {
          return false;
        }
      }, 10_000);
      expect(t).toBeLessThan(10_000);
      // and a transfer is intact afterwards
      const n = 8 * 1024 * 1024;
      const r = await download(port, n, 2).done;
      expect(r.sha256).toBe((await patternDigest(n, 2)).sha256);
    }, 60_000);

    it('graceful stop of the edge lets an in-flight transfer finish; then the port refuses', async () => {
      const extra: ServiceProcess = await gw.stack.startEdge({ EDGE_GRACE_MS: '8000' });
      const p2 = Number(extra.ready.http);
      const n = 32 * 1024 * 1024;
      const dl = download(p2, n, 12);
      await waitFor(() => dl.got() > 0, 10_000);
      const stopping = extra.stop();
      const r = await dl.done;
      expect(r).toMatchObject({ got: n, sha256: (await patternDigest(n, 12)).sha256, complete: true });
      await stopping;
      await expect(get(p2, 'demo.sluice.localhost')).rejects.toThrow(/ECONNREFUSED/);
    }, 60_000);
  });
}

describe('jetstream: the agent loses NATS for 3 s during a 100 MiB download', () => {
  it('completes intact (SHA-256) after the agent reconnects', async () => {
    const gw = await startGateway('jetstream', { edgeEnv: { EDGE_RESUME_GRACE_MS: '8000' } });
    try {
      const proxy = await startTcpProxy({ host: '127.0.0.1', port: gw.stack.nats.port });
      await gw.agent.stop();
      gw.agent = await gw.stack.startAgent({
        id: 'demo',
        token: DEMO_TOKEN,
        transport: 'jetstream',
        natsUrl: `nats://127.0.0.1:${proxy.port}`,
        ingress: [{ hostname: 'demo.sluice.localhost', service: `http://127.0.0.1:${gw.demo.address().http}` }],
      });
      const n = 100 * 1024 * 1024;
      const want = (await patternDigest(n, 21)).sha256;
      const dl = download(gw.stack.httpPort, n, 21);
      await waitFor(() => dl.got() > 10 * 1024 * 1024, 20_000);
      proxy.cut();
      await new Promise((r) => setTimeout(r, 3000));
      proxy.resume();
      const r = await dl.done;
      expect(r).toMatchObject({ got: n, sha256: want, complete: true });
      await proxy.close();
    } finally {
      await gw.stop();
    }
  }, 90_000);
});
