import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { connect as connectH2 } from 'node:http2';
import { Agent, get as httpsGet } from 'node:https';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { patternDigest, sha256OfStream } from '@sluice/testing';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createDemoUpstream, demoCertPaths } from '../src/index.ts';

const MiB = 1024 * 1024;

function get(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => httpGet(url, resolve).once('error', reject));
}

describe('demo upstream lifecycle', () => {
  it('refuses address() before start() and a second start()', async () => {
    const demo = createDemoUpstream();
    expect(() => demo.address()).toThrow(expect.objectContaining({ code: 'SLUICE_DEMO_NOT_STARTED' }));
    await demo.start();
    await expect(demo.start()).rejects.toMatchObject({ code: 'SLUICE_DEMO_ALREADY_STARTED' });
    await demo.stop();
    await demo.stop();
  });

  it('stop() lets an in-flight download finish and ends SSE and WebSocket streams', async () => {
    const demo = createDemoUpstream({ shutdownGraceMs: 10_000 });
    await demo.start();
    const base = `http://127.0.0.1:${demo.address().http}`;

    const sse = await get(`${base}/sse`);
    const sseEnded = once(sse, 'end');
    sse.resume();
    const ws = new WebSocket(`ws://127.0.0.1:${demo.address().http}/ws`);
    await once(ws, 'open');
    const wsClosed = once(ws, 'close');

    const size = 32 * MiB;
    const download = await get(`${base}/bytes?n=${size}&seed=21`);
    download.pause();

    // The reader is stalled, so the server is mid-response when the stop begins.
    let stoppedAt = Number.POSITIVE_INFINITY;
    const stopped = demo.stop().then(() => (stoppedAt = performance.now()));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const digest = await sha256OfStream(download);
    const downloadedAt = performance.now();
    await stopped;
    expect(digest).toEqual(await patternDigest(size, 21));
    // Far below the 10 s grace and node's 5 s keep-alive timeout: the finished connection was closed.
    expect(stoppedAt - downloadedAt).toBeLessThan(3_000);
    await sseEnded;
    const [code] = (await wsClosed) as [number];
    expect(code).toBe(1001);
    await expect(fetch(`${base}/`)).rejects.toThrow();
  });

  it('stop() closes idle h2 sessions and idle HTTPS keep-alive connections at once', async () => {
    const demo = createDemoUpstream({ shutdownGraceMs: 10_000 });
    await demo.start();
    const ca = readFileSync(demoCertPaths.ca);
    const session = connectH2(`https://localhost:${demo.address().https}`, { ca });
    await once(session, 'connect');
    const sessionClosed = once(session, 'close');
    const agent = new Agent({ keepAlive: true, ca });
    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      httpsGet(`https://localhost:${demo.address().https}/size?n=10`, { agent }, resolve).once('error', reject),
    );
    await res.toArray();

    const started = performance.now();
    await demo.stop();
    expect(performance.now() - started).toBeLessThan(3_000);
    await sessionClosed;
    agent.destroy();
  });
});

describe('demo main', () => {
  it('prints a ready line with both ports and exits on SIGTERM', async () => {
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', main], {
      env: { ...process.env, DEMO_HTTP_PORT: '0', DEMO_HTTPS_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const lines = createInterface({ input: child.stdout });
      const [first] = (await once(lines, 'line')) as [string];
      const ready = JSON.parse(first) as { event: string; http: number; https: number };
      expect(Object.keys(ready)).toEqual(['event', 'http', 'https']);
      expect(ready.event).toBe('ready');
      const res = await fetch(`http://127.0.0.1:${ready.http}/`);
      expect(await res.text()).toContain('Hello from the Sluice demo upstream');

      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
