// The dns_qps scenario: A-record queries per second over UDP, measured with dnsperf against the
// ddns service and, in the same run, against NSD serving the same zones from zone files. Both
// run with response rate limiting off (a benchmark from one source would otherwise measure the
// limiter). `benchDns()` returns the JSON row; run this file directly to print it.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { SluiceError } from '@sluice/contracts';
import { repoRoot, startNats, startNsd, type DnsServerHandle } from '@sluice/testing';

export class DnsBenchError extends SluiceError {
  constructor(code: 'SLUICE_BENCH_DNSPERF_FAILED' | 'SLUICE_BENCH_DDNS_FAILED' | 'SLUICE_BENCH_ABORTED', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export interface DnsScenario {
  name: 'dns_qps';
  unit: 'qps';
  /** NSD's rate, same queries, same run. */
  reference: number;
  /** The ddns service's rate. */
  sluice: number;
  ratio: number;
  /** Queries ddns did not answer within dnsperf's timeout. */
  lost: number;
}

export interface DnsperfResult {
  qps: number;
  sent: number;
  completed: number;
  lost: number;
  noerrorPercent: number;
  avgLatencyMs: number;
}

export interface DnsBenchReport {
  scenario: DnsScenario;
  nsd: DnsperfResult;
  ddns: DnsperfResult;
  /** What the table or a note should say about the conditions. */
  notes: string[];
}

export interface DnsBenchOptions {
  /** dnsperf run length per server (the figure is for 20 s). */
  seconds?: number;
  /** Distinct names queried, all under the tunnel zone. */
  names?: number;
  /** dnsperf clients (sockets) and threads, and queries in flight. */
  clients?: number;
  threads?: number;
  maxOutstanding?: number;
  /** ddns processes sharing the port (DDNS_WORKERS); NSD runs with its default server-count of 1. */
  workers?: number;
  signal?: AbortSignal;
  progress?: (line: string) => void;
}

const ZONE = 'sluice.bench';
const DYN_ZONE = `dyn.${ZONE}`;

/** Reads dnsperf's summary. */
export function parseDnsperf(text: string): DnsperfResult {
  const num = (re: RegExp): number => {
    const m = re.exec(text);
    if (!m) throw new DnsBenchError('SLUICE_BENCH_DNSPERF_FAILED', `dnsperf printed no ${re.source}:\n${text.slice(0, 2000)}`);
    return Number(m[1]);
  };
  const completed = num(/Queries completed:\s+(\d+)/);
  const noerror = /NOERROR (\d+)/.exec(text);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    completed,
    lost: num(/Queries lost:\s+(\d+)/),
    noerrorPercent: completed === 0 ? 0 : (100 * Number(noerror?.[1] ?? 0)) / completed,
    avgLatencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
  };
}

function runDnsperf(port: number, queryFile: string, o: Required<Pick<DnsBenchOptions, 'seconds' | 'clients' | 'threads' | 'maxOutstanding'>>, signal?: AbortSignal): Promise<DnsperfResult> {
  const args = ['-s', '127.0.0.1', '-p', String(port), '-d', queryFile, '-l', String(o.seconds), '-c', String(o.clients), '-T', String(o.threads), '-q', String(o.maxOutstanding), '-t', '2'];
  return new Promise((resolve, reject) => {
    execFile('dnsperf', args, { timeout: (o.seconds + 30) * 1000, ...(signal ? { signal } : {}) }, (err, stdout, stderr) => {
      if (err) {
        reject(new DnsBenchError(signal?.aborted ? 'SLUICE_BENCH_ABORTED' : 'SLUICE_BENCH_DNSPERF_FAILED', `dnsperf ${args.join(' ')} failed: ${err.message}\n${stderr}`, { cause: err }));
        return;
      }
      try {
        resolve(parseDnsperf(stdout));
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** Waits until something answers an A query on `port` (dig, one try a time). */
async function waitForDns(port: number, name: string, what: string, isAlive: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (!isAlive()) throw new DnsBenchError('SLUICE_BENCH_DDNS_FAILED', `${what} exited before answering on port ${port}`);
    const out = await new Promise<string>((resolve) => execFile('dig', ['@127.0.0.1', '-p', String(port), name, 'A', '+short', '+tries=1', '+time=1'], (_e, so) => resolve(so ?? '')));
    if (out.trim() === '127.0.0.1') return;
    await sleep(100);
  }
  throw new DnsBenchError('SLUICE_BENCH_DDNS_FAILED', `${what} did not answer ${name} on port ${port} within 20 s`);
}

/**
 * Starts ddns in this process's session, as NSD and dnsperf are: spawnService starts services in
 * a session of their own, and with the kernel's autogroup scheduling a busy machine then gives
 * each session an equal CPU share, which measured ddns at a fraction of what it serves when it
 * shares the session with the load generator the way NSD does.
 */
async function startDdns(env: Record<string, string>): Promise<{ child: ChildProcess; port: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'services/ddns/src/main.ts')], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DnsBenchError('SLUICE_BENCH_DDNS_FAILED', 'ddns not ready within 30 s')), 30_000);
    child.once('exit', (code) => reject(new DnsBenchError('SLUICE_BENCH_DDNS_FAILED', `ddns exited with ${String(code)} before it was ready`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{"event":"ready"')) return;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { dns: { port: number } }).dns.port);
    });
  });
  return {
    child,
    port,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([gone, sleep(10_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

function zoneFile(origin: string): string {
  const lines = [`$ORIGIN ${origin}.`, '$TTL 60', `@ IN SOA ns1.${ZONE}. hostmaster.${ZONE}. 1 3600 600 86400 60`, `@ IN NS ns1.${ZONE}.`];
  if (origin === ZONE) lines.push('ns1 IN A 127.0.0.1', '* IN A 127.0.0.1');
  return lines.join('\n') + '\n';
}

/** Runs both servers, dnsperf against each, and returns the figures. */
export async function runDnsBench(opts: DnsBenchOptions = {}): Promise<DnsBenchReport> {
  const say = opts.progress ?? (() => undefined);
  const o = { seconds: opts.seconds ?? 20, clients: opts.clients ?? 4, threads: opts.threads ?? 2, maxOutstanding: opts.maxOutstanding ?? 100, workers: opts.workers ?? 2 };
  execFileSync(process.execPath, [join(repoRoot, 'scripts/ensure-deps.mjs'), 'dnsperf', 'nsd'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const dir = await mkdtemp(join(tmpdir(), 'sluice-dns-bench-'));
  const queryFile = join(dir, 'queries.txt');
  await writeFile(queryFile, Array.from({ length: opts.names ?? 100 }, (_, i) => `host${i + 1}.${ZONE} A`).join('\n') + '\n');
  const nats = await startNats();
  let ddns: Awaited<ReturnType<typeof startDdns>> | undefined;
  let nsd: DnsServerHandle | undefined;
  try {
    ddns = await startDdns({
      NATS_URL: nats.url,
      LOG_LEVEL: 'warn',
      DDNS_WORKERS: String(o.workers),
      DDNS_CONFIG_JSON: JSON.stringify({
        tunnelZone: ZONE,
        dynZone: DYN_ZONE,
        port: 0,
        nameservers: [{ name: `ns1.${ZONE}`, ipv4: ['127.0.0.1'] }],
        edgeAddresses: { ipv4: ['127.0.0.1'] },
        rateLimit: false,
      }),
    });
    const ddnsPort = ddns.port;
    nsd = await startNsd({ [ZONE]: zoneFile(ZONE), [DYN_ZONE]: zoneFile(DYN_ZONE) });
    const nsdPort = nsd.port;
    await waitForDns(ddnsPort, `host1.${ZONE}`, 'ddns', () => ddns!.child.exitCode === null);
    say(`dns: dnsperf ${o.seconds} s, ${opts.names ?? 100} names, ${o.clients} clients x ${o.threads} threads, ${o.maxOutstanding} in flight; rate limiting off on both; ddns ${o.workers} worker(s), NSD 1 server process`);
    const ref = await runDnsperf(nsdPort, queryFile, o, opts.signal);
    say(`dns: nsd  ${ref.qps.toFixed(0)} qps, lost ${ref.lost}, NOERROR ${ref.noerrorPercent.toFixed(2)}%, avg latency ${ref.avgLatencyMs.toFixed(3)} ms`);
    const ours = await runDnsperf(ddnsPort, queryFile, o, opts.signal);
    say(`dns: ddns ${ours.qps.toFixed(0)} qps, lost ${ours.lost}, NOERROR ${ours.noerrorPercent.toFixed(2)}%, avg latency ${ours.avgLatencyMs.toFixed(3)} ms`);
    const ratio = ref.qps === 0 ? 0 : Math.round((1000 * ours.qps) / ref.qps) / 1000;
    return {
      scenario: { name: 'dns_qps', unit: 'qps', reference: Math.round(ref.qps), sluice: Math.round(ours.qps), ratio, lost: ours.lost },
      nsd: ref,
      ddns: ours,
      notes: [
        `dns_qps: rate limiting off on both servers; NSD (1 server process) ${o.seconds} s then ddns (${o.workers} workers) ${o.seconds} s, same ${opts.names ?? 100} names`,
        `dns_qps: ddns NOERROR ${ours.noerrorPercent.toFixed(2)}%, avg latency ${ours.avgLatencyMs.toFixed(3)} ms (NSD ${ref.avgLatencyMs.toFixed(3)} ms)`,
      ],
    };
  } finally {
    await nsd?.stop();
    await ddns?.stop();
    await nats.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The JSON row for `npm run bench -- --json`. */
export async function benchDns(opts: DnsBenchOptions = {}): Promise<DnsScenario> {
  return (await runDnsBench(opts)).scenario;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const seconds = Number(process.argv[2] ?? 20);
  const workers = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
  const report = await runDnsBench({ seconds, ...(workers ? { workers } : {}), progress: (l) => process.stderr.write(`[bench] ${l}\n`) });
  for (const n of report.notes) process.stderr.write(`[bench] ${n}\n`);
  process.stdout.write(`${JSON.stringify({ scenarios: [report.scenario] })}\n`);
}
