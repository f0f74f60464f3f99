import { downloadThroughput } from './bulk.ts';
import { throwIfAborted } from './errors.ts';
import { startBenchGateway, type BenchGateway } from './gateway.ts';
import { idleConnectionCost } from './idle.ts';
import type { BenchOptions, ScenarioName, Transport } from './options.ts';
import { scenarioResult, type ScenarioDetail, type ScenarioResult } from './report.ts';
import { median } from './stats.ts';
import type { Target } from './target.ts';
import { sequentialTtfb } from './ttfb.ts';
import { runWrk, type WrkLoad } from './wrk.ts';

export interface TransportRunContext {
  opts: BenchOptions;
  /** Path of wrk; undefined when keepalive_rps is not selected. */
  wrk: string | undefined;
  direct: Target;
  upstreamPort: number;
  signal: AbortSignal;
  /** Where --profile puts the edge's and the agent's CPU profiles. */
  profileDir: string | undefined;
  progress(line: string): void;
}

export interface TransportResults {
  rows: ScenarioResult[];
  details: Map<ScenarioResult, ScenarioDetail>;
  /** Oddities worth a look: service warnings, wrk errors, connections closed early. */
  notes: string[];
}

type Pair = { direct: number; tunnel: number };

const BULK_WARMUP_BYTES = 128 * 2 ** 20;

/**
 * Runs `runs` rounds, each measuring direct then tunnel back to back, so that both sides of a
 * ratio see the same machine state.
 */
async function pairedRuns(ctx: TransportRunContext, label: string, unit: string, tunnel: Target, measure: (t: Target) => Promise<number>): Promise<Pair[]> {
  const out: Pair[] = [];
  for (let i = 0; i < ctx.opts.runs; i++) {
    throwIfAborted(ctx.signal);
    const direct = await measure(ctx.direct);
    const viaTunnel = await measure(tunnel);
    ctx.progress(`${label} run ${i + 1}/${ctx.opts.runs}: direct ${direct.toFixed(2)} ${unit}, tunnel ${viaTunnel.toFixed(2)} ${unit}`);
    out.push({ direct, tunnel: viaTunnel });
  }
  return out;
}

function record(res: TransportResults, name: ScenarioName, transport: Transport, pairs: readonly { direct: number | null; tunnel: number }[], note?: string): void {
  const directRuns = pairs.flatMap((p) => (p.direct === null ? [] : [p.direct]));
  const tunnelRuns = pairs.map((p) => p.tunnel);
  const row = scenarioResult(name, transport, directRuns.length ? median(directRuns) : null, median(tunnelRuns));
  res.rows.push(row);
  res.details.set(row, { directRuns, tunnelRuns, ...(note ? { note } : {}) });
}

async function runOnOneGateway(ctx: TransportRunContext, transport: Transport, gw: BenchGateway, res: TransportResults): Promise<void> {
  const { opts, signal } = ctx;
  const want = opts.scenarios;

  if (want.has('bulk_throughput')) {
    // an unrecorded shorter download each: the first one through a fresh process ran at half speed
    for (const t of [ctx.direct, gw.tunnel]) await downloadThroughput(t, Math.min(opts.bulkBytes, BULK_WARMUP_BYTES), signal);
    const pairs = await pairedRuns(ctx, `${transport} bulk_throughput (${opts.bulkBytes / 2 ** 20} MiB)`, 'MB/s', gw.tunnel, (t) => downloadThroughput(t, opts.bulkBytes, signal));
    record(res, 'bulk_throughput', transport, pairs);
  }

  if (want.has('keepalive_rps')) {
    const wrk = ctx.wrk!;
    const load: WrkLoad = { seconds: opts.wrkSeconds, connections: opts.wrkConnections, threads: opts.wrkThreads, path: '/size?n=1024' };
    // one unrecorded second each, so that neither side is measured while its code is still cold
    for (const t of [ctx.direct, gw.tunnel]) await runWrk(wrk, t, { ...load, seconds: 1 }, signal);
    const problems: string[] = [];
    const pairs = await pairedRuns(ctx, `${transport} keepalive_rps (wrk ${opts.wrkSeconds} s)`, 'req/s', gw.tunnel, async (t) => {
      const r = await runWrk(wrk, t, load, signal);
      if (r.non2xx > 0 || r.socketErrors > 0) problems.push(`${t.kind}: ${r.non2xx} non-2xx, ${r.socketErrors} socket errors of ${r.requests}`);
      return r.requestsPerSecond;
    });
    for (const p of problems) res.notes.push(`${transport} keepalive_rps: wrk saw ${p}`);
    record(res, 'keepalive_rps', transport, pairs, problems.length ? 'wrk errors, see notes' : undefined);
  }

  if (want.has('ttfb_p50_ms') || want.has('ttfb_p99_ms')) {
    const p50: Pair[] = [];
    const p99: Pair[] = [];
    for (let i = 0; i < opts.runs; i++) {
      throwIfAborted(signal);
      const direct = await sequentialTtfb(ctx.direct, opts.connections, signal);
      const tunnel = await sequentialTtfb(gw.tunnel, opts.connections, signal);
      ctx.progress(
        `${transport} ttfb run ${i + 1}/${opts.runs} (${opts.connections} new connections): p50 ${direct.p50.toFixed(3)} → ${tunnel.p50.toFixed(3)} ms, p99 ${direct.p99.toFixed(3)} → ${tunnel.p99.toFixed(3)} ms`,
      );
      p50.push({ direct: direct.p50, tunnel: tunnel.p50 });
      p99.push({ direct: direct.p99, tunnel: tunnel.p99 });
    }
    if (want.has('ttfb_p50_ms')) record(res, 'ttfb_p50_ms', transport, p50);
    if (want.has('ttfb_p99_ms')) record(res, 'ttfb_p99_ms', transport, p99);
  }
}

async function idleRun(ctx: TransportRunContext, transport: Transport, gw: BenchGateway, run: number, res: TransportResults): Promise<{ perConnectionKiB: number; worst: string }> {
  const r = await idleConnectionCost(gw.tunnel, ctx.opts.connections, gw.measuredProcesses(), ctx.signal);
  const deltas = Object.entries(r.deltasKiB)
    .map(([name, kib]) => `${name} ${kib >= 0 ? '+' : ''}${kib} KiB`)
    .join(', ');
  ctx.progress(`${transport} idle_conn_kib run ${run}/${ctx.opts.runs} (${r.held} connections, opened in ${(r.openMs / 1000).toFixed(1)} s): ${r.perConnectionKiB.toFixed(2)} KiB/conn in ${r.worst}; ${deltas}`);
  if (r.closedEarly > 0) res.notes.push(`${transport} idle_conn_kib run ${run}: ${r.closedEarly} of ${r.held} idle connections were closed before the RSS reading`);
  return r;
}

/**
 * Every selected scenario for one transport. Each idle run needs processes that have done nothing
 * but start (RSS a process grew once is rarely given back, so a second round on the same processes
 * would mostly measure reused memory): the first runs on the shared gateway before anything else,
 * the others on fresh gateways. bulk, keep-alive and ttfb share the first gateway.
 */
export async function benchTransport(ctx: TransportRunContext, transport: Transport): Promise<TransportResults> {
  const res: TransportResults = { rows: [], details: new Map(), notes: [] };
  const want = ctx.opts.scenarios;
  const start = async (profileDir: string | undefined): Promise<BenchGateway> => {
    const t0 = performance.now();
    const gw = await startBenchGateway(transport, ctx.upstreamPort, { signal: ctx.signal, profileDir });
    ctx.progress(`${transport}: gateway up in ${((performance.now() - t0) / 1000).toFixed(1)} s (edge on 127.0.0.1:${gw.tunnel.port})`);
    return gw;
  };
  const idle: { direct: null; tunnel: number }[] = [];
  const worst = new Set<string>();
  const stopGateway = async (gw: BenchGateway, label: string): Promise<void> => {
    res.notes.push(...gw.problems().map((p) => `${transport}${label}: ${p}`));
    await gw.stop();
  };

  const gw = await start(ctx.profileDir);
  try {
    if (want.has('idle_conn_kib')) {
      const r = await idleRun(ctx, transport, gw, 1, res);
      idle.push({ direct: null, tunnel: r.perConnectionKiB });
      worst.add(r.worst);
    }
    await runOnOneGateway(ctx, transport, gw, res);
  } finally {
    await stopGateway(gw, '');
  }
  if (ctx.profileDir) ctx.progress(`${transport}: CPU profiles of the edge and the agent (open in Chrome DevTools or speedscope) are in ${ctx.profileDir}/${transport}/`);

  if (want.has('idle_conn_kib')) {
    for (let run = 2; run <= ctx.opts.runs; run++) {
      throwIfAborted(ctx.signal);
      const fresh = await start(undefined);
      try {
        const r = await idleRun(ctx, transport, fresh, run, res);
        idle.push({ direct: null, tunnel: r.perConnectionKiB });
        worst.add(r.worst);
      } finally {
        await stopGateway(fresh, ` (idle run ${run})`);
      }
    }
    record(res, 'idle_conn_kib', transport, idle, `worst: ${[...worst].join(', ')}`);
  }
  return res;
}
