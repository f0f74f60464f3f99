import type { ScenarioName, Transport } from './options.ts';
import { round } from './stats.ts';

export const UNITS: Record<ScenarioName, string> = {
  bulk_throughput: 'MB/s',
  keepalive_rps: 'req/s',
  ttfb_p50_ms: 'ms',
  ttfb_p99_ms: 'ms',
  idle_conn_kib: 'KiB',
};

const DECIMALS: Record<ScenarioName, number> = {
  bulk_throughput: 1,
  keepalive_rps: 0,
  ttfb_p50_ms: 3,
  ttfb_p99_ms: 3,
  idle_conn_kib: 2,
};

/** One line of the JSON report; `direct` and `ratio` are null where there is no direct figure. */
export interface ScenarioResult {
  name: ScenarioName;
  transport: Transport;
  unit: string;
  direct: number | null;
  tunnel: number;
  ratio: number | null;
}

/** What the table shows besides the JSON fields: each run's figures and a remark. */
export interface ScenarioDetail {
  directRuns: number[];
  tunnelRuns: number[];
  note?: string;
}

export function scenarioResult(name: ScenarioName, transport: Transport, direct: number | null, tunnel: number): ScenarioResult {
  const d = DECIMALS[name];
  return {
    name,
    transport,
    unit: UNITS[name],
    direct: direct === null ? null : round(direct, d),
    tunnel: round(tunnel, d),
    ratio: direct === null || direct === 0 ? null : round(tunnel / direct, 3),
  };
}

function fmt(value: number | null, decimals: number): string {
  return value === null ? '-' : value.toFixed(decimals);
}

/** The human table: ratio is tunnel/direct; for latencies also the milliseconds the tunnel adds. */
export function renderTable(rows: readonly ScenarioResult[], details: ReadonlyMap<ScenarioResult, ScenarioDetail>): string {
  const header = ['transport', 'scenario', 'unit', 'direct', 'tunnel', 'tunnel/direct', 'added', 'runs (direct | tunnel), notes'];
  const lines = rows.map((r) => {
    const d = DECIMALS[r.name];
    const detail = details.get(r);
    const added = r.unit === 'ms' && r.direct !== null ? `+${(r.tunnel - r.direct).toFixed(3)} ms` : '';
    const runs = detail ? `${detail.directRuns.map((v) => v.toFixed(d)).join(' ')}${detail.directRuns.length ? ' | ' : ''}${detail.tunnelRuns.map((v) => v.toFixed(d)).join(' ')}` : '';
    return [r.transport, r.name, r.unit, fmt(r.direct, d), fmt(r.tunnel, d), r.ratio === null ? '-' : `${r.ratio.toFixed(3)}x`, added, [runs, detail?.note].filter(Boolean).join('  ')];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const render = (cells: string[]): string => cells.map((c, i) => (i >= 3 && i <= 6 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [render(header), render(widths.map((w) => '-'.repeat(w))), ...lines.map(render)].join('\n');
}
