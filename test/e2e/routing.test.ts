import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, connect, type Server } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createServer as httpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, DEMO_TOKEN, type Gateway } from '../support/gateway.ts';
import { get, raw } from '../support/http.ts';

/** What node's TLS client sends first for `servername`: a real ClientHello. */
async function captureClientHello(servername: string): Promise<Buffer> {
  const srv: Server = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const got = new Promise<Buffer>((resolve) => {
    srv.once('connection', (s) => {
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
      });
    });
  });
  const c = tlsConnect({ host: '127.0.0.1', port: (srv.address() as AddressInfo).port, servername, ALPNProtocols: ['h2', 'http/1.1'] });
  c.on('error', () => undefined);
  const hello = await got;
  c.destroy();
  srv.close();
  return hello;
}

/** Sends `parts` with a pause between them; resolves with the first bytes the server answers. */
function sendInParts(port: number, parts: Buffer[]): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.setNoDelay(true);
    const t = setTimeout(() => {
      s.destroy();
      resolve(null);
    }, 5000);
    s.once('data', (d: Buffer) => {
      clearTimeout(t);
      s.destroy();
      resolve(d);
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve(null);
    });
    let i = 0;
    const next = (): void => {
      if (i < parts.length) s.write(parts[i++]!, () => setTimeout(next, 3));
    };
    s.once('connect', next);
  });
}

describe('routing', () => {
  let gw: Gateway;
  let port: number;
  let bServer: ReturnType<typeof httpServer>;
  beforeAll(async () => {
    gw = await startGateway('core');
    port = gw.stack.httpPort;
    bServer = httpServer((_req, res) => res.end('B'));
    await new Promise<void>((r) => bServer.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    bServer?.close();
    await gw?.stop();
  });

  it('routes a ClientHello split at every byte offset by its SNI', async () => {
    const hello = await captureClientHello('demo.sluice.localhost');
    expect(hello.length).toBeGreaterThan(200);
    const offsets = Array.from({ length: hello.length - 1 }, (_, i) => i + 1);
    const failures: number[] = [];
    for (let i = 0; i < offsets.length; i += 40) {
      const batch = offsets.slice(i, i + 40);
      const answers = await Promise.all(batch.map((o) => sendInParts(gw.stack.tlsPort, [hello.subarray(0, o), hello.subarray(o)])));
      answers.forEach((a, j) => {
        // the upstream's ServerHello (a handshake record) proves the bytes reached it
        if (!a || a[0] !== 0x16) failures.push(batch[j]!);
      });
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('refuses a ClientHello without SNI and malformed TLS with a clean close', async () => {
    const garbage = await sendInParts(gw.stack.tlsPort, [Buffer.from('\x16\x03\x01\x00\x05hello')]);
    expect(garbage === null || garbage[0] === 0x15).toBe(true);
    const plain = await sendInParts(gw.stack.tlsPort, [Buffer.from('GET / HTTP/1.1\r\n\r\n')]);
    expect(plain).toBeNull();
  });

  it('shares connections among several agents for one name, and drops a silent one within 2 s', async () => {
    const b = await gw.stack.startAgent({
      id: 'demo-b',
      token: DEMO_TOKEN,
      transport: 'core',
      ingress: [{ hostname: 'demo.sluice.localhost', service: `http://127.0.0.1:${(bServer.address() as AddressInfo).port}` }],
    });
    await new Promise((r) => setTimeout(r, 500));
    const answers = await Promise.all(Array.from({ length: 20 }, () => get(port, 'demo.sluice.localhost', '/headers')));
    const fromB = answers.filter((a) => a.body.toString() === 'B').length;
    expect(fromB).toBeGreaterThan(3);
    expect(fromB).toBeLessThan(17);
    // freeze B (no heartbeats, TCP still open): within 2 s no new connection goes to it
    process.kill(b.pid, 'SIGSTOP');
    try {
      await new Promise((r) => setTimeout(r, 2000));
      const later = await Promise.all(Array.from({ length: 10 }, () => get(port, 'demo.sluice.localhost', '/headers')));
      expect(later.every((a) => a.status === 200 && a.body.toString() !== 'B')).toBe(true);
    } finally {
      process.kill(b.pid, 'SIGCONT');
      await b.kill();
    }
  });

  it('refuses requests after an Upgrade the upstream declined, so nothing unchecked is forwarded', async () => {
    // a plain server that ignores Upgrade and answers 200 with the Host it saw, keeping the connection
    const plain = httpServer((req, res) => res.end(`host=${req.headers.host}`));
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    const up = await gw.stack.startAgent({
      id: 'demo-up',
      token: DEMO_TOKEN,
      transport: 'core',
      ingress: [{ hostname: 'up.apps.sluice.localhost', service: `http://127.0.0.1:${(plain.address() as AddressInfo).port}` }],
    });
    try {
      const r = await raw(
        port,
        'GET / HTTP/1.1\r\nHost: up.apps.sluice.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n' +
          'GET / HTTP/1.1\r\nHost: other.sluice.localhost\r\n\r\n',
      );
      expect(r.closed).toBe(true);
      expect(r.text).toContain('host=up.apps.sluice.localhost');
      expect(r.text).not.toContain('other.sluice.localhost');
    } finally {
      await up.kill();
      plain.close();
    }
  });

  it('refuses a hostname the agent does not own (registry) and keeps routing the rest', async () => {
    const rogue = await gw.stack.startAgent({
      id: 'demo-rogue',
      token: DEMO_TOKEN,
      transport: 'core',
      ingress: [
        { hostname: 'other.sluice.localhost', service: `http://127.0.0.1:${(bServer.address() as AddressInfo).port}` },
        { hostname: 'z.apps.sluice.localhost', service: `http://127.0.0.1:${(bServer.address() as AddressInfo).port}` },
      ],
    });
    try {
      expect(rogue.logs()).toMatch(/hostname refused by registry.*other\.sluice\.localhost|other\.sluice\.localhost.*hostname refused/);
      expect((await get(port, 'other.sluice.localhost')).status).toBe(404);
    } finally {
      await rogue.kill();
    }
  });
});
