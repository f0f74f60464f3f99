// `npm run bench -- --only cluster`: keep-alive req/s and bulk MB/s through a three-server NATS
// cluster (edge on server 0, router and registry on 1, agent on 2: every byte crosses a route),
// next to the same gateway on one nats-server and to the upstream directly, in the same run, per
// transport. Issue 10 asks that the cluster hop cost under 30% (cluster/single >= 0.7).
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  spawnService,
  startNats,
  startNatsCluster,
  startStack,
  type NatsClusterHandle,
  type NatsServerHandle,
  type ServiceProcess,
  type Stack,
} from '@sluice/testing';
import { downloadThroughput } from './bulk.ts';
import { statusOf } from './gateway.ts';
import { BenchError, throwIfAborted } from './errors.ts';
import type { BenchOptions, Transport } from './options.ts';
import { median, round } from './stats.ts';
import { directTarget, type Target } from './target.ts';
import { runWrk, type WrkLoad } from './wrk.ts';

const AGENT_TOKEN = 'bench-agent-token-0123456789abcdef';
const READY_TIMEOUT_MS = 30_000;
const BULK_WARMUP_BYTES = 128 * 2 ** 20;

type Setup = 'direct' | 'single' | 'cluster';
const SETUPS: readonly Setup[] = ['direct', 'single', 'cluster'];

/** CPU the setup's processes used per unit of work (per MB, per 1000 requests), medians of the rounds. */
export interface CpuPerUnit {
  /** nats-server(s): one, or the cluster's three. */
  nats: number;
  /** edge, agent(s), router, registry. */
  services: number;
}

export interface ClusterScenario {
  name: 'cluster_bulk_throughput' | 'cluster_keepalive_rps';
  transport: Transport;
  unit: 'MB/s' | 'req/s';
  direct: number;
  single: number;
  cluster: number;
  /** cluster / single: what the cluster hop costs (1.0 = nothing). */
  ratio: number;
  singleVsDirect: number;
  clusterVsDirect: number;
  runs: Record<Setup, number[]>;
  /** CPU ms per MB (bulk) or per 1000 requests (keep-alive), per setup through NATS. */
  cpu: Record<'single' | 'cluster', CpuPerUnit>;
}

export interface ClusterBenchReport {
  scenarios: ClusterScenario[];
  notes: string[];
}

export interface ClusterBenchContext {
  opts: BenchOptions;
  /** wrk's path; undefined skips keep-alive. */
  wrk: string | undefined;
  signal: AbortSignal;
  progress(line: string): void;
  /** Replicas of the cluster's data stream (the router's ROUTER_DATA_REPLICAS); default the gateway's. */
  dataReplicas?: number;
}

const hostFor = (transport: Transport): string => `${transport}.bench.sluice.localhost`;


async function untilServing(target: Target, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let status = 0;
  while (Date.now() < deadline) {
    throwIfAborted(signal);
    status = await statusOf(target.port, target.host);
    if (status === 200) return;
    await sleep(100);
  }
  throw new BenchError('SLUICE_BENCH_TUNNEL_NOT_READY', `${target.host} on port ${target.port} did not answer 200 within ${READY_TIMEOUT_MS / 1000} s (last status ${status})`);
}

/** A gateway with one agent per transport, each serving `<transport>.bench.sluice.localhost`. */
interface BenchStack {
  stack: Stack;
  agents: ServiceProcess[];
  target(transport: Transport): Target;
}

async function startBenchStack(
  transports: readonly Transport[],
  upstreamPort: number,
  placement: { nats: NatsServerHandle; edge: string; router: string; agent: string },
  routerEnv: Record<string, string> = {},
): Promise<BenchStack> {
  const stack = await startStack({
    nats: placement.nats,
    registryAgents: [{ id: 'bench', token: AGENT_TOKEN, hostnames: transports.map(hostFor) }],
    // every benchmark client is 127.0.0.1
    edgeEnv: { NATS_URL: placement.edge, EDGE_MAX_CONNS_PER_CLIENT: '100000' },
    routerEnv: { NATS_URL: placement.router, ...routerEnv },
  });
  const agents: ServiceProcess[] = [];
  try {
    for (const transport of transports) {
      agents.push(
        await stack.startAgent({
          id: `bench-${transport}`,
          token: AGENT_TOKEN,
          transport,
          natsUrl: placement.agent,
          ingress: [{ hostname: hostFor(transport), service: `http://127.0.0.1:${upstreamPort}` }],
        }),
      );
    }
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return { stack, agents, target: (transport) => ({ kind: 'tunnel', port: stack.httpPort, host: hostFor(transport) }) };
}

function problemLines(processes: ServiceProcess[], label: string): string[] {
  return processes.flatMap((p) =>
    p
      .logs()
      .split('\n')
      .filter((l) => /"level":(4|5|6)0/.test(l))
      .slice(0, 10)
      .map((l) => `${label} ${p.name}: ${l.slice(0, 300)}`),
  );
}

/** The processes whose CPU a setup's figure costs: its nats-server(s), and its gateway's services. */
interface SetupPids {
  nats: number[];
  services: number[];
}

/** utime + stime of a live process, in ms (Linux /proc; 100 clock ticks a second). */
function cpuMsOf(pid: number): number {
  try {
    // the fields after the parenthesised command name; utime and stime are the 14th and 15th
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}

const cpuOf = (pids: SetupPids): CpuPerUnit => ({
  nats: pids.nats.reduce((n, p) => n + cpuMsOf(p), 0),
  services: pids.services.reduce((n, p) => n + cpuMsOf(p), 0),
});

/** One measured round of one setup: its figure, and the CPU its processes used per unit. */
interface Measured {
  value: number;
  cpu: CpuPerUnit | undefined;
}

function scenario(name: ClusterScenario['name'], transport: Transport, unit: ClusterScenario['unit'], measured: Record<Setup, Measured[]>): ClusterScenario {
  const runs = { direct: measured.direct.map((m) => m.value), single: measured.single.map((m) => m.value), cluster: measured.cluster.map((m) => m.value) };
  const m = { direct: median(runs.direct), single: median(runs.single), cluster: median(runs.cluster) };
  const d = unit === 'MB/s' ? 1 : 0;
  const cpu = (setup: 'single' | 'cluster'): CpuPerUnit => ({
    nats: round(median(measured[setup].map((x) => x.cpu?.nats ?? 0)), 2),
    services: round(median(measured[setup].map((x) => x.cpu?.services ?? 0)), 2),
  });
  return {
    name,
    transport,
    unit,
    direct: round(m.direct, d),
    single: round(m.single, d),
    cluster: round(m.cluster, d),
    ratio: round(m.cluster / m.single, 3),
    singleVsDirect: round(m.single / m.direct, 3),
    clusterVsDirect: round(m.cluster / m.direct, 3),
    runs,
    cpu: { single: cpu('single'), cluster: cpu('cluster') },
  };
}

/**
 * Each round measures direct, then one nats-server, then the cluster, back to back, so that the
 * three figures of a round see the same machine; each figure is the median of the rounds.
 */
async function rounds(
  ctx: ClusterBenchContext,
  label: string,
  unit: string,
  targets: Record<Setup, Target>,
  pids: Record<'single' | 'cluster', SetupPids>,
  /** What one unit of `unit` is per second of a figure: MB for MB/s, 1000 requests for req/s. */
  perUnit: number,
  measure: (t: Target) => Promise<number>,
): Promise<Record<Setup, Measured[]>> {
  const runs: Record<Setup, Measured[]> = { direct: [], single: [], cluster: [] };
  for (let i = 0; i < ctx.opts.runs; i++) {
    for (const setup of SETUPS) {
      throwIfAborted(ctx.signal);
      const p = setup === 'direct' ? undefined : pids[setup];
      const before = p && cpuOf(p);
      const t0 = performance.now();
      const value = await measure(targets[setup]);
      const units = (value * (performance.now() - t0)) / 1000 / perUnit;
      const after = p && cpuOf(p);
      const cpu = before && after && units > 0 ? { nats: (after.nats - before.nats) / units, services: (after.services - before.services) / units } : undefined;
      runs[setup].push({ value, cpu });
    }
    ctx.progress(`${label} run ${i + 1}/${ctx.opts.runs}: ${SETUPS.map((s) => `${s} ${runs[s][i]!.value.toFixed(1)}`).join(', ')} ${unit}`);
  }
  return runs;
}

export async function runClusterBench(ctx: ClusterBenchContext): Promise<ClusterBenchReport> {
  const { opts, signal, progress } = ctx;
  const notes: string[] = [];
  const scenarios: ClusterScenario[] = [];
  let demo: ServiceProcess | undefined;
  let single: { nats: NatsServerHandle; gw: BenchStack } | undefined;
  let cluster: { nats: NatsClusterHandle; gw: BenchStack } | undefined;
  try {
    demo = await spawnService('demo', 'services/demo/src/main.ts', { DEMO_HTTP_PORT: '0', DEMO_HTTPS_PORT: '0' });
    const upstreamPort = Number(demo.ready['http']);
    // local processes both: a container's port forwarding would tilt the comparison
    const nats = await startNats({ local: true });
    single = { nats, gw: await startBenchStack(opts.transports, upstreamPort, { nats, edge: nats.url, router: nats.url, agent: nats.url }) };
    const c = await startNatsCluster({ size: 3, name: 'bench' });
    const [a, b, agentServer] = c.urls as [string, string, string];
    const routerEnv: Record<string, string> = ctx.dataReplicas !== undefined ? { ROUTER_DATA_REPLICAS: String(ctx.dataReplicas) } : {};
    cluster = { nats: c, gw: await startBenchStack(opts.transports, upstreamPort, { nats: c.servers[1]!, edge: a, router: b, agent: agentServer }, routerEnv) };
    progress(`one nats-server and a cluster of three up; edge on ${a}, router on ${b}, agent on ${agentServer}`);

    for (const transport of opts.transports) {
      const targets: Record<Setup, Target> = { direct: directTarget(upstreamPort), single: single.gw.target(transport), cluster: cluster.gw.target(transport) };
      for (const t of [targets.single, targets.cluster]) await untilServing(t, signal);
      if (transport === 'jetstream') notes.push(await dataStreamPlacement(c));
      const servicePids = (gw: BenchStack): number[] => gw.stack.processes().map((p) => p.pid);
      const pids = {
        single: { nats: [nats.pid ?? 0], services: servicePids(single.gw) },
        cluster: { nats: c.servers.map((m) => m.pid ?? 0), services: servicePids(cluster.gw) },
      };

      if (opts.scenarios.has('bulk_throughput')) {
        for (const setup of SETUPS) await downloadThroughput(targets[setup], Math.min(opts.bulkBytes, BULK_WARMUP_BYTES), signal);
        const runs = await rounds(ctx, `${transport} bulk (${opts.bulkBytes / 2 ** 20} MiB)`, 'MB/s', targets, pids, 1, (t) => downloadThroughput(t, opts.bulkBytes, signal));
        scenarios.push(scenario('cluster_bulk_throughput', transport, 'MB/s', runs));
      }
      if (opts.scenarios.has('keepalive_rps') && ctx.wrk !== undefined) {
        const wrk = ctx.wrk;
        const load: WrkLoad = { seconds: opts.wrkSeconds, connections: opts.wrkConnections, threads: opts.wrkThreads, path: '/size?n=1024' };
        for (const setup of SETUPS) await runWrk(wrk, targets[setup], { ...load, seconds: 1 }, signal);
        const runs = await rounds(ctx, `${transport} keep-alive (wrk ${opts.wrkSeconds} s x ${opts.wrkConnections})`, 'req/s', targets, pids, 1000, async (t) => {
          const r = await runWrk(wrk, t, load, signal);
          if (r.non2xx > 0 || r.socketErrors > 0) notes.push(`${transport} keep-alive ${t.host}: ${r.non2xx} non-2xx, ${r.socketErrors} socket errors of ${r.requests}`);
          return r.requestsPerSecond;
        });
        scenarios.push(scenario('cluster_keepalive_rps', transport, 'req/s', runs));
      }
    }
  } finally {
    if (cluster) notes.push(...problemLines(cluster.gw.stack.processes(), 'cluster'));
    if (single) notes.push(...problemLines(single.gw.stack.processes(), 'single'));
    await cluster?.gw.stack.stop();
    await cluster?.nats.stop();
    await single?.gw.stack.stop();
    await single?.nats.stop();
    await demo?.stop(10_000);
  }
  return { scenarios, notes };
}

/**
 * Where the cluster's data stream lives: its replicas, and which server leads it (bench-0 has the
 * edge, bench-2 the agent; a leader on bench-1 puts two route hops on every chunk, where its
 * replicas are one).
 */
async function dataStreamPlacement(c: NatsClusterHandle): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const s = (await c.leaders()).get('SLUICE_DATA');
    if (s?.leader) return `cluster data stream: ${s.replicas} replica(s), led by ${s.leader} (edge on bench-0, router on bench-1, agent on bench-2)`;
    await sleep(100);
  }
  return 'cluster data stream: no leader seen';
}

/** The human table: each figure a median; ratio = cluster / single, and each against direct. */
export function renderClusterTable(rows: readonly ClusterScenario[]): string {
  const header = ['transport', 'scenario', 'unit', 'direct', 'single', 'cluster', 'cluster/single', 'single/direct', 'cluster/direct', 'cpu ms/unit single (nats+svc)', 'cluster (nats+svc)', 'runs (direct | single | cluster)'];
  const lines = rows.map((r) => {
    const d = r.unit === 'MB/s' ? 1 : 0;
    return [
      r.transport,
      r.name,
      r.unit,
      r.direct.toFixed(d),
      r.single.toFixed(d),
      r.cluster.toFixed(d),
      `${r.ratio.toFixed(3)}x`,
      `${r.singleVsDirect.toFixed(3)}x`,
      `${r.clusterVsDirect.toFixed(3)}x`,
      `${r.cpu.single.nats.toFixed(1)}+${r.cpu.single.services.toFixed(1)}`,
      `${r.cpu.cluster.nats.toFixed(1)}+${r.cpu.cluster.services.toFixed(1)}`,
      SETUPS.map((s) => r.runs[s].map((v) => v.toFixed(d)).join(' ')).join(' | '),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const render = (cells: string[]): string => cells.map((c, i) => (i >= 3 && i <= 10 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [render(header), render(widths.map((w) => '-'.repeat(w))), ...lines.map(render)].join('\n');
}
