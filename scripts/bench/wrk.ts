import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { BenchError } from './errors.ts';
import type { Target } from './target.ts';

export interface WrkResult {
  requestsPerSecond: number;
  requests: number;
  /** Responses that were not 2xx/3xx, and connect/read/write/timeout errors: both should be 0. */
  non2xx: number;
  socketErrors: number;
}

export interface WrkLoad {
  seconds: number;
  connections: number;
  threads: number;
  path: string;
}

/** Path of the wrk binary, or a BenchError that says how to install it. */
export function requireWrk(): string {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '');
  for (const candidate of [...dirs.map((d) => join(d, 'wrk')), '/usr/bin/wrk']) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next one
    }
  }
  throw new BenchError(
    'SLUICE_BENCH_WRK_MISSING',
    'wrk is not installed, and keepalive_rps needs it. Install it with `node scripts/ensure-deps.mjs wrk` (or `sudo apt-get install wrk`), or leave the scenario out with --scenarios bulk,ttfb,idle',
  );
}

/** Reads the request rate and the error counts from wrk's summary. */
export function parseWrkOutput(text: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text)?.[1];
  const requests = /^\s*(\d+) requests in /m.exec(text)?.[1];
  if (rps === undefined || requests === undefined) {
    throw new BenchError('SLUICE_BENCH_WRK_FAILED', `wrk printed no "Requests/sec" summary:\n${text.slice(0, 2000)}`);
  }
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors = errs ? errs.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return { requestsPerSecond: Number(rps), requests: Number(requests), non2xx, socketErrors };
}

/** One wrk run against `target`; killed if it overruns its duration by 30 s or the run is aborted. */
export function runWrk(wrk: string, target: Target, load: WrkLoad, signal: AbortSignal): Promise<WrkResult> {
  const args = [
    `-t${load.threads}`,
    `-c${load.connections}`,
    `-d${load.seconds}s`,
    '--timeout',
    '5s',
    '-H',
    `Host: ${target.host}`,
    `http://127.0.0.1:${target.port}${load.path}`,
  ];
  return new Promise<WrkResult>((resolve, reject) => {
    const child = spawn(wrk, args, { stdio: ['ignore', 'pipe', 'pipe'], signal, timeout: (load.seconds + 30) * 1000, killSignal: 'SIGKILL' });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('error', (cause) => {
      reject(signal.aborted ? new BenchError('SLUICE_BENCH_ABORTED', 'benchmark interrupted') : new BenchError('SLUICE_BENCH_WRK_FAILED', `wrk failed to run: ${cause.message}`, { cause }));
    });
    child.once('close', (code, sig) => {
      if (code !== 0) {
        reject(new BenchError('SLUICE_BENCH_WRK_FAILED', `wrk ${args.join(' ')} exited with ${String(code ?? sig)}:\n${out.slice(0, 2000)}`));
        return;
      }
      try {
        resolve(parseWrkOutput(out));
      } catch (err) {
        reject(err);
      }
    });
  });
}
