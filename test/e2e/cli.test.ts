import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { repoRoot } from '@sluice/testing';
import { startGateway, DEMO_TOKEN, type Gateway } from '../support/gateway.ts';
import { get } from '../support/http.ts';

const cliBin = join(repoRoot, 'services/cli/bin/sluice.mjs');

function runCli(args: string[], cwd: string): { child: ChildProcess; firstLine: Promise<string>; exit: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [cliBin, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn' } });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const firstLine = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', () => reject(new Error(`exited before printing a line: ${err}`)));
  });
  firstLine.catch(() => undefined); // awaited only by tests that expect a line
  const exit = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  return { child, firstLine, exit, stderr: () => err };
}

describe('the sluice CLI', () => {
  let gw: Gateway;
  let local: ReturnType<typeof createServer>;
  let cwd: string;
  beforeAll(async () => {
    gw = await startGateway('core');
    local = createServer((req, res) => res.end(`local app saw ${req.headers.host}`));
    await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
    // what `npm run up` writes, so the CLI needs no flags
    cwd = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
    mkdirSync(join(cwd, '.sluice'));
    writeFileSync(join(cwd, '.sluice', 'local.json'), JSON.stringify({ natsUrl: gw.stack.nats.url, httpPort: gw.stack.httpPort, tlsPort: gw.stack.tlsPort, zone: 'sluice.localhost' }));
  });
  afterAll(async () => {
    local?.close();
    await gw?.stop();
  });

  it('`sluice http PORT` prints a generated public URL that reaches the local port; Ctrl-C releases it', async () => {
    const port = (local.address() as AddressInfo).port;
    const a = runCli(['http', String(port)], cwd);
    const b = runCli(['http', String(port)], cwd);
    const [urlA, urlB] = await Promise.all([a.firstLine, b.firstLine]);
    const re = new RegExp(`^http://([a-z0-9]+)\\.dev\\.local\\.sluice\\.localhost:${gw.stack.httpPort}/$`);
    expect(urlA).toMatch(re);
    expect(urlB).toMatch(re);
    expect(urlA).not.toBe(urlB);
    const host = new URL(urlA).hostname;
    const r = await get(gw.stack.httpPort, host);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(`local app saw ${host}`);
    a.child.kill('SIGINT');
    expect(await a.exit).toBe(0);
    // the registry removed its route: the router follows within moments
    let status = 0;
    for (let i = 0; i < 40 && status !== 404; i++) {
      status = (await get(gw.stack.httpPort, host)).status;
      if (status !== 404) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(404);
    b.child.kill('SIGINT');
    expect(await b.exit).toBe(0);
  });

  it('`sluice agent --config` maps exact and wildcard hostnames to several upstreams', async () => {
    const other = createServer((_req, res) => res.end('wildcard upstream'));
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const file = join(cwd, 'agent.yaml');
    writeFileSync(
      file,
      [
        `nats: ${gw.stack.nats.url}`,
        `token: ${DEMO_TOKEN}`,
        'agentId: demo-cli',
        'transport: jetstream',
        'ingress:',
        '  - hostname: "*.apps.sluice.localhost"',
        `    service: http://127.0.0.1:${(other.address() as AddressInfo).port}`,
        '  - hostname: exact.apps.sluice.localhost',
        `    service: http://127.0.0.1:${(local.address() as AddressInfo).port}`,
      ].join('\n'),
    );
    await gw.agent.stop(); // the demo agent also serves *.apps; leave the names to the CLI agent
    const c = runCli(['agent', '--config', file], cwd);
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(c.stderr())), 15_000);
        const iv = setInterval(() => {
          if (c.stderr().includes('connected')) {
            clearTimeout(t);
            clearInterval(iv);
            resolve();
          }
        }, 50);
      });
      await new Promise((r) => setTimeout(r, 300));
      expect((await get(gw.stack.httpPort, 'exact.apps.sluice.localhost')).body.toString()).toContain('local app saw exact.apps');
      expect((await get(gw.stack.httpPort, 'x.y.apps.sluice.localhost')).body.toString()).toBe('wildcard upstream');
    } finally {
      c.child.kill('SIGINT');
      await c.exit;
      other.close();
      gw.agent = await gw.startDemoAgent();
    }
  });

  it('rejects a bad config with a precise message and exit code 1', async () => {
    const file = join(cwd, 'bad.yaml');
    writeFileSync(file, 'nats: nats://127.0.0.1:1\ningress:\n  - hostname: "a..b"\n    service: http://127.0.0.1:80\n');
    const c = runCli(['agent', '--config', file], cwd);
    expect(await c.exit).toBe(1);
    expect(c.stderr()).toMatch(/SLUICE_INVALID_CONFIG: .*bad\.yaml: \/ingress hostname "a\.\.b" is not a valid hostname/);
    const d = runCli(['http', 'notaport'], cwd);
    expect(await d.exit).toBe(2);
    expect(d.stderr()).toMatch(/expected a port number/);
  });
});
