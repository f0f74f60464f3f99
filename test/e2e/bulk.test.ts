import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { request } from 'node:http';
import { createHash } from 'node:crypto';
import { patternStream, patternDigest } from '@sluice/testing';
import { startGateway, type Gateway } from '../support/gateway.ts';

const GiB = 1024 * 1024 * 1024;

function downloadDigest(port: number, n: number, seed: number): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    const req = request({ host: '127.0.0.1', port, path: `/bytes?n=${n}&seed=${seed}`, headers: { host: 'demo.sluice.localhost' }, agent: false }, (res) => {
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        hash.update(c);
      });
      res.on('end', () => resolve({ bytes, sha256: hash.digest('hex') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function uploadDigest(port: number, n: number, seed: number): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/upload', method: 'POST', headers: { host: 'demo.sluice.localhost', 'content-length': String(n) }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(JSON.parse(body) as { bytes: number; sha256: string }));
      },
    );
    req.on('error', reject);
    patternStream(n, seed).pipe(req);
  });
}

for (const transport of ['core', 'jetstream'] as const) {
  describe(`1 GiB each way over ${transport}`, () => {
    let gw: Gateway;
    beforeAll(async () => {
      gw = await startGateway(transport);
    });
    afterAll(async () => {
      await gw?.stop();
    });

    it('downloads 1 GiB with an identical SHA-256', async () => {
      const got = await downloadDigest(gw.stack.httpPort, GiB, 31);
      expect(got).toEqual(await patternDigest(GiB, 31));
    }, 240_000);

    it('uploads 1 GiB with an identical SHA-256', async () => {
      const got = await uploadDigest(gw.stack.httpPort, GiB, 32);
      expect(got).toEqual(await patternDigest(GiB, 32));
    }, 240_000);
  });
}
