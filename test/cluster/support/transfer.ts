import { request } from 'node:http';
import { createHash } from 'node:crypto';
import { patternStream } from '@sluice/testing';

export interface Transfer {
  bytes: number;
  sha256: string;
  /** The response ended with all its bytes (false: the connection was cut). */
  complete: boolean;
  status: number;
}

export interface RunningDownload {
  done: Promise<Transfer>;
  got(): number;
  /** When the client's connection ended (0 while open). */
  closedAt(): number;
}

/** `GET /bytes?n=&seed=` through the edge, hashing as it arrives (never buffering the body). */
export function download(port: number, host: string, n: number, seed: number): RunningDownload {
  const hash = createHash('sha256');
  let got = 0;
  let closedAt = 0;
  const done = new Promise<Transfer>((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: `/bytes?n=${n}&seed=${seed}`, headers: { host }, agent: false }, (res) => {
      res.on('data', (c: Buffer) => {
        got += c.length;
        hash.update(c);
      });
      const finish = (): void => {
        closedAt = Date.now();
        resolve({ bytes: got, sha256: hash.digest('hex'), complete: res.complete, status: res.statusCode ?? 0 });
      };
      res.once('end', finish);
      res.once('error', finish);
      res.once('aborted', () => undefined);
    });
    req.on('error', () => {
      closedAt = Date.now();
      resolve({ bytes: got, sha256: '', complete: false, status: 0 });
    });
    req.end();
  });
  return { done, got: () => got, closedAt: () => closedAt };
}

/** `POST /upload` of `n` pattern bytes through the edge; the demo answers with what it received. */
export function upload(port: number, host: string, n: number, seed: number): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/upload', method: 'POST', headers: { host, 'content-length': String(n) }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          try {
            resolve(JSON.parse(body) as { bytes: number; sha256: string });
          } catch (err) {
            reject(new Error(`upload answered ${res.statusCode}: ${body.slice(0, 200)}`, { cause: err }));
          }
        });
      },
    );
    req.on('error', reject);
    patternStream(n, seed).pipe(req);
  });
}

/** Polls `cond` every 50 ms; resolves with the milliseconds it took, rejects after `ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what = 'condition'): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await cond()) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
