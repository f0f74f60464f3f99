import { parseArgs } from 'node:util';
import { BenchError } from './errors.ts';

export const SCENARIO_NAMES = ['bulk_throughput', 'keepalive_rps', 'ttfb_p50_ms', 'ttfb_p99_ms', 'idle_conn_kib'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export const TRANSPORTS = ['core', 'jetstream'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** Short names accepted by `--scenarios` besides the full ones. */
const ALIASES: Record<string, readonly ScenarioName[]> = {
  bulk: ['bulk_throughput'],
  keepalive: ['keepalive_rps'],
  rps: ['keepalive_rps'],
  ttfb: ['ttfb_p50_ms', 'ttfb_p99_ms'],
  idle: ['idle_conn_kib'],
};

export interface BenchOptions {
  transports: readonly Transport[];
  scenarios: ReadonlySet<ScenarioName>;
  /** Each figure is the median of this many runs. */
  runs: number;
  bulkBytes: number;
  wrkSeconds: number;
  wrkConnections: number;
  wrkThreads: number;
  /** New connections per ttfb run, idle connections per idle run. */
  connections: number;
  json: boolean;
  quick: boolean;
  profile: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]

Measures the same scenarios directly against the demo upstream and through the tunnel, per transport.

  --transport core|jetstream   run one transport (default: both)
  --scenarios a,b              pick scenarios: ${SCENARIO_NAMES.join(', ')}
                               (or bulk, keepalive, ttfb, idle)
  --runs N                     each figure is the median of N runs (default 3; --quick: 1)
  --duration S                 wrk seconds per keep-alive run (default 8; --quick: 4)
  --bulk-mib N                 bulk download size in MiB (default 1024; --quick: 256)
  --connections N              connections per ttfb / idle run (default 1000; --quick: 300)
  --quick                      the short run: 1 run, 256 MiB, 4 s wrk, 300 connections
  --json                       print one JSON object on stdout (the table still goes to stderr)
  --profile                    write CPU profiles of the edge and the agent (.sluice/bench-profiles/;
                               figures are then not comparable with unprofiled runs)
  --help                       this text
`;

function intOption(raw: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = /^\d{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new BenchError('SLUICE_BENCH_BAD_ARGS', `--${name} must be an integer ${min}..${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function parseScenarios(raw: string | undefined): Set<ScenarioName> {
  if (raw === undefined) return new Set(SCENARIO_NAMES);
  const picked = new Set<ScenarioName>();
  for (const part of raw.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const full = (SCENARIO_NAMES as readonly string[]).includes(part) ? [part as ScenarioName] : ALIASES[part];
    if (full === undefined) {
      throw new BenchError('SLUICE_BENCH_BAD_ARGS', `unknown scenario ${JSON.stringify(part)}; expected one of ${SCENARIO_NAMES.join(', ')}, ${Object.keys(ALIASES).join(', ')}`);
    }
    for (const s of full) picked.add(s);
  }
  if (picked.size === 0) throw new BenchError('SLUICE_BENCH_BAD_ARGS', '--scenarios names no scenario');
  return picked;
}

/** Returns null for --help. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions | null {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      options: {
        transport: { type: 'string' },
        scenarios: { type: 'string' },
        runs: { type: 'string' },
        duration: { type: 'string' },
        'bulk-mib': { type: 'string' },
        connections: { type: 'string' },
        quick: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        profile: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (cause) {
    throw new BenchError('SLUICE_BENCH_BAD_ARGS', (cause as Error).message, { cause });
  }
  const v = parsed.values;
  if (v.help) return null;
  const t = v.transport;
  if (t !== undefined && !(TRANSPORTS as readonly string[]).includes(t)) {
    throw new BenchError('SLUICE_BENCH_BAD_ARGS', `--transport must be ${TRANSPORTS.join(' or ')}, got ${JSON.stringify(t)}`);
  }
  const quick = v.quick === true;
  return {
    transports: t === undefined ? TRANSPORTS : [t as Transport],
    scenarios: parseScenarios(v.scenarios),
    runs: intOption(v.runs, 'runs', quick ? 1 : 3, 1, 25),
    wrkSeconds: intOption(v.duration, 'duration', quick ? 4 : 8, 1, 120),
    wrkConnections: 50,
    wrkThreads: 2,
    bulkBytes: intOption(v['bulk-mib'], 'bulk-mib', quick ? 256 : 1024, 1, 16_384) * 1024 * 1024,
    // bounded by the edge's per-client cap the bench raises and by the open-file limit
    connections: intOption(v.connections, 'connections', quick ? 300 : 1000, 10, 10_000),
    json: v.json === true,
    quick,
    profile: v.profile === true,
  };
}
