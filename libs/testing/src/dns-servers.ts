import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port.ts';

/** A DNS server run from Debian's packages for a test or a benchmark, on 127.0.0.1. */
export interface DnsServerHandle {
  readonly port: number;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export class DnsServerError extends Error {
  override readonly name = 'DnsServerError';
  readonly code = 'SLUICE_TESTING_DNS_SERVER_FAILED';
}

function dig(port: number, name: string, type: string): Promise<string> {
  return new Promise((resolve) => execFile('dig', ['@127.0.0.1', '-p', String(port), name, type, '+tries=1', '+time=1'], (_e, out) => resolve(out ?? '')));
}

async function waitAnswering(what: string, child: ChildProcess, port: number, name: string, type: string, logs: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new DnsServerError(`${what} exited with ${child.exitCode} before answering on port ${port}\n${logs()}`);
    if (/status: (NOERROR|NXDOMAIN)/.test(await dig(port, name, type))) return;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new DnsServerError(`${what} did not answer ${name} ${type} on port ${port} within 20 s\n${logs()}`);
}

function handle(child: ChildProcess, port: number, dir: string): DnsServerHandle {
  return {
    port,
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([gone, sleep(5000)]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * NSD serving `zones` (origin → zone file text) from zone files, response rate limiting off.
 * `serverCount` is NSD's number of server processes (its default is 1).
 */
export async function startNsd(zones: Record<string, string>, opts: { serverCount?: number } = {}): Promise<DnsServerHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-nsd-'));
  const port = await freePort();
  const names = Object.keys(zones);
  for (const [i, origin] of names.entries()) await writeFile(join(dir, `z${i}.zone`), zones[origin]!);
  const conf = [
    'server:',
    '  ip-address: 127.0.0.1',
    `  port: ${port}`,
    `  server-count: ${opts.serverCount ?? 1}`,
    '  username: ""',
    '  chroot: ""',
    `  zonesdir: "${dir}"`,
    `  pidfile: "${dir}/nsd.pid"`,
    '  database: ""',
    `  xfrdfile: "${dir}/xfrd.state"`,
    `  zonelistfile: "${dir}/zone.list"`,
    `  logfile: "${dir}/nsd.log"`,
    '  rrl-ratelimit: 0',
    '  verbosity: 0',
    'remote-control:',
    '  control-enable: no',
    ...names.flatMap((origin, i) => ['zone:', `  name: ${origin}`, `  zonefile: z${i}.zone`]),
    '',
  ].join('\n');
  await writeFile(join(dir, 'nsd.conf'), conf);
  const child = spawn('nsd', ['-d', '-c', join(dir, 'nsd.conf')], { stdio: 'ignore' });
  child.on('error', () => undefined);
  await waitAnswering('nsd', child, port, names[0]!, 'SOA', () => '');
  return handle(child, port, dir);
}

/**
 * Unbound as a real recursive resolver that reaches the zones in `stubs` (zone → port on
 * 127.0.0.1) and nothing else, without DNSSEC validation, optionally with 0x20 (random case in
 * every query name, answers whose question differs in case are rejected).
 */
export async function startUnbound(stubs: Record<string, number>, opts: { useCapsForId?: boolean } = {}): Promise<DnsServerHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-unbound-'));
  const port = await freePort();
  const conf = [
    'server:',
    '  interface: 127.0.0.1',
    `  port: ${port}`,
    '  do-not-query-localhost: no',
    '  access-control: 127.0.0.0/8 allow',
    '  username: ""',
    '  chroot: ""',
    `  directory: "${dir}"`,
    `  pidfile: "${dir}/unbound.pid"`,
    '  do-daemonize: no',
    '  use-syslog: no',
    '  logfile: ""',
    '  verbosity: 1',
    '  module-config: "iterator"',
    '  num-threads: 1',
    '  qname-minimisation: no',
    `  use-caps-for-id: ${opts.useCapsForId ? 'yes' : 'no'}`,
    // a stub's own zones only: no root priming, no network
    ...Object.keys(stubs).flatMap((z) => [`  domain-insecure: "${z}"`]),
    // Unbound answers special-use TLDs (test., localhost., invalid.) itself unless told not to
    ...[...new Set(Object.keys(stubs).map((z) => z.split('.').pop()!))].map((tld) => `  local-zone: "${tld}." nodefault`),
    ...Object.entries(stubs).flatMap(([zone, p]) => ['stub-zone:', `  name: "${zone}"`, `  stub-addr: 127.0.0.1@${p}`]),
    '',
  ].join('\n');
  await writeFile(join(dir, 'unbound.conf'), conf);
  let logs = '';
  const child = spawn('unbound', ['-d', '-c', join(dir, 'unbound.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (logs = (logs + d.toString()).slice(-4000)));
  child.stderr?.on('data', (d: Buffer) => (logs = (logs + d.toString()).slice(-4000)));
  child.on('error', () => undefined);
  await waitAnswering('unbound', child, port, Object.keys(stubs)[0]!, 'SOA', () => logs);
  return handle(child, port, dir);
}
