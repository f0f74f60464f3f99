import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { WebSocket } from 'ws';
import { demoCertPaths } from '@sluice/demo';
import { patternStream, patternDigest } from '@sluice/testing';
import { startGateway, type Gateway } from '../support/gateway.ts';
import { get, h2Get, raw } from '../support/http.ts';

for (const transport of ['core', 'jetstream'] as const) {
  describe(`gateway over ${transport}`, () => {
    let gw: Gateway;
    let port: number;
    beforeAll(async () => {
      gw = await startGateway(transport);
      port = gw.stack.httpPort;
    });
    afterAll(async () => {
      await gw?.stop();
    });

    it('routes HTTP by Host to the agent and upstream', async () => {
      const r = await get(port, 'demo.sluice.localhost');
      expect(r.status).toBe(200);
      expect(r.body.toString()).toContain('demo.sluice.localhost');
      const w = await get(port, 'x.apps.sluice.localhost', '/headers');
      expect(w.status).toBe(200);
      expect(JSON.parse(w.body.toString()).host).toBe('x.apps.sluice.localhost');
    });

    it('answers 404 naming an unknown host, and 502 for a known host with no agent online', async () => {
      const r = await get(port, 'nobody.sluice.localhost');
      expect(r.status).toBe(404);
      expect(r.body.toString()).toContain('nobody.sluice.localhost');
      // "other" is a registered owner with no route yet: unknown → 404; demo agent is the live one
    });

    it('passes TLS through by SNI: HTTP/2 by ALPN with the upstream certificate', async () => {
      const { alpn, body } = await h2Get(gw.stack.tlsPort, 'demo.sluice.localhost', readFileSync(demoCertPaths.ca));
      expect(alpn).toBe('h2');
      expect(body).toContain('HTTP/2');
    });

    it('closes a TLS connection for an unknown SNI name', async () => {
      // a real ClientHello for nobody.sluice.localhost, via node's tls client
      const { connect: tlsConnect } = await import('node:tls');
      const err = await new Promise<Error>((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port: gw.stack.tlsPort, servername: 'nobody.sluice.localhost', rejectUnauthorized: false });
        s.on('error', resolve);
        s.on('close', () => resolve(new Error('closed')));
      });
      expect(err.message).toMatch(/unrecognized name|closed|ECONNRESET|socket disconnected/i);
    });

    it('carries WebSocket upgrades and long-lived streams', async () => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host: 'demo.sluice.localhost' } });
      await new Promise((r, j) => {
        ws.once('open', r);
        ws.once('error', j);
      });
      const echoed = await new Promise<string>((resolve) => {
        ws.once('message', (d: Buffer) => resolve(d.toString()));
        ws.send('hello through the tunnel');
      });
      expect(echoed).toBe('hello through the tunnel');
      ws.close();
      // server-sent events: at least three events arrive over one open response
      const { request } = await import('node:http');
      const events = await new Promise<number>((resolve) => {
        const req = request({ host: '127.0.0.1', port, path: '/sse', headers: { host: 'demo.sluice.localhost' }, agent: false }, (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => {
            n += (c.toString().match(/\n\n/g) ?? []).length;
            if (n >= 3) {
              req.destroy();
              resolve(n);
            }
          });
        });
        req.end();
      });
      expect(events).toBeGreaterThanOrEqual(3);
    });

    it('routes per request: a keep-alive request for another host gets 421, never the first host', async () => {
      const r = await raw(
        port,
        'GET /headers HTTP/1.1\r\nHost: demo.sluice.localhost\r\n\r\n' + 'GET /headers HTTP/1.1\r\nHost: other.sluice.localhost\r\n\r\n',
      );
      expect(r.closed).toBe(true);
      expect(r.text).toMatch(/^HTTP\/1\.1 200/);
      expect(r.text).toContain('421 Misdirected Request');
      expect(r.text).not.toContain('"host":"other.sluice.localhost"');
      // the same host on one connection is fine
      const ok = await raw(port, 'GET / HTTP/1.1\r\nHost: demo.sluice.localhost\r\n\r\nGET / HTTP/1.1\r\nHost: demo.sluice.localhost\r\nConnection: close\r\n\r\n');
      expect(ok.text.match(/HTTP\/1\.1 200/g)?.length).toBe(2);
    });

    it('refuses smuggling attempts and oversized heads with 400/431 and a close', async () => {
      const cases: Array<[string, RegExp]> = [
        ['POST / HTTP/1.1\r\nHost: demo.sluice.localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /^HTTP\/1\.1 400/],
        ['GET / HTTP/1.1\r\nHost: demo.sluice.localhost\r\nX-A: a\r\n b\r\n\r\n', /^HTTP\/1\.1 400/],
        ['POST / HTTP/1.1\r\nHost: demo.sluice.localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', /^HTTP\/1\.1 400/],
        ['POST / HTTP/1.1\r\nHost: demo.sluice.localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /^HTTP\/1\.1 200|^HTTP\/1\.1 400|^$/],
        [`GET / HTTP/1.1\r\nHost: demo.sluice.localhost\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`, /^HTTP\/1\.1 431/],
        ['GARBAGE\r\n\r\n', /^HTTP\/1\.1 400/],
      ];
      for (const [req, want] of cases) {
        const r = await raw(port, req);
        expect(r.closed, req.slice(0, 40)).toBe(true);
        expect(r.text, req.slice(0, 40)).toMatch(want);
      }
    });

    it('moves 64 MiB down and up intact (SHA-256)', async () => {
      const n = 64 * 1024 * 1024;
      const down = await get(port, 'demo.sluice.localhost', `/bytes?n=${n}&seed=7`);
      expect(down.status).toBe(200);
      expect(createHash('sha256').update(down.body).digest('hex')).toBe((await patternDigest(n, 7)).sha256);
      const up = await get(port, 'demo.sluice.localhost', '/upload', { method: 'POST', body: patternStream(n, 9) });
      expect(JSON.parse(up.body.toString())).toEqual({ bytes: n, sha256: (await patternDigest(n, 9)).sha256 });
    });

    it('carries 500 concurrent connections each echoing 1 MiB intact', async () => {
      const one = 1024 * 1024;
      const expected = (await patternDigest(one, 3)).sha256;
      const results = await Promise.all(
        Array.from({ length: 500 }, () => get(port, 'demo.sluice.localhost', '/echo', { method: 'POST', body: patternStream(one, 3) })),
      );
      const bad = results.filter((r) => r.status !== 200 || createHash('sha256').update(r.body).digest('hex') !== expected);
      expect(bad.length).toBe(0);
    }, 180_000);
  });
}
