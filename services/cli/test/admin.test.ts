import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { repoRoot, startNats, startTestDns, type NatsServerHandle, type TestDns } from '@sluice/testing';
import { createRegistry, parseRegistryConfig, type Registry } from '@sluice/registry';

const run = promisify(execFile);
const cliBin = join(repoRoot, 'services/cli/bin/sluice.mjs');

let nats: NatsServerHandle;
let nc: NatsConnection;
let dns: TestDns;
let registry: Registry;
let api: string;
const home = mkdtempSync(join(tmpdir(), 'sluice-cli-home-'));

async function sluice(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [cliBin, ...args], { cwd: home, env: { ...process.env, XDG_CONFIG_HOME: join(home, 'config'), SLUICE_API: api, ...env }, timeout: 30_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  dns = await startTestDns();
  registry = createRegistry(parseRegistryConfig(JSON.stringify({ zone: 'sluice.test', region: 'eu', dnsServers: [dns.server], agentNatsUrl: nats.url, api: { port: 0 } })), {
    nc,
    logger: pino({ level: 'silent' }),
  });
  await registry.start();
  api = `http://127.0.0.1:${registry.apiPort}`;
});

afterAll(async () => {
  await registry?.stop();
  await nc?.drain();
  await dns?.stop();
  await nats?.stop();
});

describe('sluice CLI against the registry API', () => {
  it('login stores the token (0600); agents create / domains add / verify print the documented JSON', async () => {
    const login = await sluice(['login', '--token', registry.bootstrapToken!, '--json']);
    expect(login.code, login.stderr).toBe(0);
    const stored = JSON.parse(login.stdout).stored as string;
    expect(statSync(stored).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(stored, 'utf8')).token).toBe(registry.bootstrapToken);

    const user = await sluice(['users', 'create', 'alice', '--json']);
    const aliceToken = JSON.parse(user.stdout).token as string;
    const env = { SLUICE_TOKEN: aliceToken };

    const created = await sluice(['agents', 'create', 'mycluster', '--region', 'eu', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const a = JSON.parse(created.stdout);
    expect(Object.keys(a)).toEqual(['name', 'hostname', 'ddnsHostname', 'credentials']);
    expect(a).toMatchObject({ name: 'mycluster', hostname: 'mycluster.alice.eu.sluice.test', ddnsHostname: 'mycluster.alice.eu.dyn.sluice.test' });
    expect(a.credentials).toMatchObject({ agentId: expect.any(String), token: expect.stringMatching(/^sla_/), natsUrl: nats.url });

    const dup = await sluice(['agents', 'create', 'mycluster', '--region', 'eu'], env);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/already exists/);

    const added = await sluice(['domains', 'add', 'home.example.com', '--json'], env);
    const d = JSON.parse(added.stdout);
    expect(d).toMatchObject({ domain: 'home.example.com', state: 'pending', record: { type: 'TXT', name: '_sluice-challenge.home.example.com' } });

    const notYet = await sluice(['domains', 'verify', 'home.example.com', '--json'], env);
    expect(notYet.code).toBe(1);
    expect(JSON.parse(notYet.stdout)).toMatchObject({ domain: 'home.example.com', state: 'pending' });
    expect(JSON.parse(notYet.stdout).missing[0]).toMatch(/_sluice-challenge\.home\.example\.com/);

    dns.set({ type: 'TXT', name: '_sluice-challenge.home.example.com', value: d.record.value });
    const ok = await sluice(['domains', 'verify', 'home.example.com', '--json'], env);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ domain: 'home.example.com', state: 'verified', missing: [], method: 'txt' });

    const list = await sluice(['domains', 'list'], env);
    expect(list.stdout).toContain('home.example.com: verified (proved by TXT)');
    const status = await sluice(['agents', 'status', 'mycluster', '--json'], env);
    expect(JSON.parse(status.stdout)).toMatchObject({ name: 'mycluster', online: false });
  });

  it('fails with a precise message without a token or with a bad one', async () => {
    const none = await sluice(['agents', 'list'], { XDG_CONFIG_HOME: join(home, 'empty') });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/sluice login/);
    const bad = await sluice(['agents', 'list'], { XDG_CONFIG_HOME: join(home, 'empty'), SLUICE_TOKEN: 'slt_nope_AAAAAAAAAAAAAAAAAAAAAAA' });
    expect(bad.stderr).toMatch(/unknown or revoked API token/);
  });
});
