// `npm run bench`: the same scenarios directly against the demo upstream and through the tunnel,
// per transport, with ratios. Human table on stderr; `--json` puts one JSON object on stdout.
import { join } from 'node:path';
import { repoRoot, spawnService, type ServiceProcess } from '@sluice/testing';
import { BenchError } from './bench/errors.ts';
import { parseBenchOptions, USAGE, type BenchOptions } from './bench/options.ts';
import { renderTable, type ScenarioDetail, type ScenarioResult } from './bench/report.ts';
import { benchTransport } from './bench/run-transport.ts';
import { directTarget } from './bench/target.ts';
import { requireWrk } from './bench/wrk.ts';

const say = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);

// `--only dns`: just the DNS scenario (dnsperf against ddns and NSD), issue 5's interface;
// `--only cluster`: keep-alive and bulk through a three-server NATS cluster next to one server (issue 10);
// `--only tracing`: keep-alive req/s with tracing off and on (exporting to a local OTLP receiver), issue 8
const onlyAt = process.argv.indexOf('--only');
if (onlyAt !== -1) {
  const what = process.argv[onlyAt + 1];
  if (what !== 'dns' && what !== 'cluster' && what !== 'tracing') {
    process.stderr.write(`[bench] --only takes "dns", "cluster" or "tracing", got "${what ?? ''}"\n`);
    process.exit(2);
  }
  if (what === 'tracing') {
    const { benchTracing } = await import('./bench/tracing.ts');
    const arg = (name: string, fallback: string): string => {
      const i = process.argv.indexOf(name);
      return i !== -1 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
    };
    const transport = arg('--transport', 'core') === 'jetstream' ? 'jetstream' : 'core';
    const quick = process.argv.includes('--quick');
    const result = await benchTracing({ transport, seconds: quick ? 3 : 8, runs: Number(arg('--runs', quick ? '1' : '3')), connections: 50, threads: 2, progress: say });
    const rows = result.scenarios.map((s) => ({ name: `tracing_${s.name}`, unit: s.unit, transport, reference: s.off, sluice: s.on, ratio: s.ratio, offRuns: s.offRuns, onRuns: s.onRuns }));
    for (const r of rows) say(`${r.name} (${transport}): tracing off ${r.reference.toFixed(0)} req/s, on ${r.sluice.toFixed(0)} req/s, ratio ${r.ratio.toFixed(3)}`);
    say(`exported: ${result.exports.requests} OTLP requests, ${result.exports.bytes} bytes`);
    if (process.argv.includes('--json')) process.stdout.write(JSON.stringify({ scenarios: rows }) + '\n');
    process.exit(0);
  }
  if (what === 'dns') {
    const { runDnsBench } = await import('./bench/dns.ts');
    const report = await runDnsBench({ progress: say });
    process.stderr.write(`[bench] ${JSON.stringify(report.scenario)}\n`);
    if (process.argv.includes('--json')) process.stdout.write(JSON.stringify({ scenarios: [report.scenario] }) + '\n');
    process.exit(0);
  }
  // the other options are the usual ones, without the `--only cluster` pair
  process.exit(await runOnlyCluster(process.argv.slice(2).filter((_, i) => i !== onlyAt - 2 && i !== onlyAt - 1)));
}

/**
 * `--only cluster` with the usual options (--transport, --scenarios bulk,keepalive, --runs,
 * --duration, --bulk-mib, --quick, --json) and `--data-replicas N`: the cluster's data stream
 * with N replicas (the router's ROUTER_DATA_REPLICAS) instead of the gateway's default.
 */
async function runOnlyCluster(argv: string[]): Promise<number> {
  let clusterOpts: BenchOptions | null;
  let dataReplicas: number | undefined;
  try {
    const at = argv.indexOf('--data-replicas');
    if (at !== -1) {
      const raw = argv[at + 1] ?? '';
      dataReplicas = /^[1-5]$/.test(raw) ? Number(raw) : Number.NaN;
      if (Number.isNaN(dataReplicas)) throw new BenchError('SLUICE_BENCH_BAD_ARGS', `--data-replicas must be 1..5, got ${JSON.stringify(raw)}`);
      argv = argv.filter((_, i) => i !== at && i !== at + 1);
    }
    clusterOpts = parseBenchOptions(argv);
  } catch (err) {
    process.stderr.write(`[bench] ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (clusterOpts === null) {
    process.stderr.write(USAGE);
    return 0;
  }
  const { runClusterBench, renderClusterTable } = await import('./bench/cluster.ts');
  const aborter = new AbortController();
  process.once('SIGINT', () => aborter.abort());
  process.once('SIGTERM', () => aborter.abort());
  const t0 = performance.now();
  try {
    const wrkPath = clusterOpts.scenarios.has('keepalive_rps') ? requireWrk() : undefined;
    const report = await runClusterBench({ opts: clusterOpts, wrk: wrkPath, signal: aborter.signal, progress: say, ...(dataReplicas !== undefined ? { dataReplicas } : {}) });
    process.stderr.write(`\n${renderClusterTable(report.scenarios)}\n`);
    process.stderr.write('each figure is the median of the runs listed; cluster = edge, router and agent on different servers of three; MB = 10^6 bytes\n');
    if (report.notes.length > 0) process.stderr.write(`\nnotes:\n${report.notes.map((n) => `  ${n}`).join('\n')}\n`);
    say(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    if (clusterOpts.json) process.stdout.write(`${JSON.stringify({ scenarios: report.scenarios })}\n`);
    return 0;
  } catch (err) {
    say(`failed: ${err instanceof BenchError ? `${err.code}: ` : ''}${(err as Error).stack ?? String(err)}`);
    return err instanceof BenchError && err.code === 'SLUICE_BENCH_ABORTED' ? 130 : 1;
  }
}

let opts: BenchOptions | null;
let wrk: string | undefined;
try {
  opts = parseBenchOptions(process.argv.slice(2));
  if (opts !== null && opts.scenarios.has('keepalive_rps')) wrk = requireWrk();
} catch (err) {
  process.stderr.write(`[bench] ${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (opts === null) {
  process.stderr.write(USAGE);
  process.exit(0);
}

const aborter = new AbortController();
const onSignal = (signal: NodeJS.Signals): void => {
  if (aborter.signal.aborted) {
    say(`second ${signal}: exiting now`);
    process.exit(130);
  }
  say(`${signal}: stopping after the current step and stopping every service…`);
  aborter.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const startedAt = performance.now();
const profileDir = opts.profile ? join(repoRoot, '.sluice', 'bench-profiles', new Date().toISOString().replace(/[:.]/g, '-')) : undefined;
const rows: ScenarioResult[] = [];
const details = new Map<ScenarioResult, ScenarioDetail>();
const notes: string[] = [];
let demo: ServiceProcess | undefined;
let exitCode = 0;
try {
  say(
    `transports ${opts.transports.join(', ')}; scenarios ${[...opts.scenarios].join(', ')}; ${opts.runs} run(s) each; ` +
      `bulk ${opts.bulkBytes / 2 ** 20} MiB, wrk ${opts.wrkSeconds} s x ${opts.wrkConnections} connections, ${opts.connections} connections for ttfb/idle`,
  );
  if (profileDir) say(`--profile: the edge and the agent are profiled; figures are not comparable with unprofiled runs`);
  // its own process, so that serving does not share the bench driver's event loop
  demo = await spawnService('demo', 'services/demo/src/main.ts', { DEMO_HTTP_PORT: '0', DEMO_HTTPS_PORT: '0' });
  const upstreamPort = Number(demo.ready['http']);
  for (const transport of opts.transports) {
    const r = await benchTransport(
      { opts, wrk, direct: directTarget(upstreamPort), upstreamPort, signal: aborter.signal, profileDir, progress: say },
      transport,
    );
    rows.push(...r.rows);
    for (const [k, v] of r.details) details.set(k, v);
    notes.push(...r.notes);
  }
} catch (err) {
  exitCode = err instanceof BenchError && err.code === 'SLUICE_BENCH_ABORTED' ? 130 : 1;
  if (exitCode === 1) say(`failed: ${err instanceof BenchError ? `${err.code}: ` : ''}${(err as Error).stack ?? String(err)}`);
} finally {
  if (demo) {
    notes.push(...demo.logs().split('\n').filter((l) => /"level":(4|5|6)0/.test(l)).map((l) => `demo: ${l.slice(0, 300)}`));
    await demo.stop(10_000);
  }
}

if (rows.length > 0) {
  process.stderr.write(`\n${renderTable(rows, details)}\n`);
  process.stderr.write('ratio = tunnel/direct; each figure is the median of the runs listed; MB = 10^6 bytes; idle_conn_kib = worst process RSS growth / connections held\n');
}
if (notes.length > 0) process.stderr.write(`\nnotes:\n${notes.map((n) => `  ${n}`).join('\n')}\n`);
say(`done in ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
if (opts.json && exitCode === 0) process.stdout.write(`${JSON.stringify({ scenarios: rows })}\n`);
process.exit(exitCode);
