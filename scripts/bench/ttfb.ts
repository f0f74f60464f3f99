import { connect } from 'node:net';
import { BenchError, throwIfAborted } from './errors.ts';
import { percentile } from './stats.ts';
import { requestHead, type Target } from './target.ts';

const PATH = '/size?n=1024';
const PER_CONNECTION_TIMEOUT_MS = 10_000;
const WARMUP_CONNECTIONS = 20;

export interface TtfbResult {
  p50: number;
  p99: number;
}

/**
 * One new connection: milliseconds from the start of the TCP connect to the first response byte.
 * Resolves once the connection is fully closed, so that connections never overlap.
 */
function firstByteMs(target: Target, head: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const started = performance.now();
    let ttfb: number | undefined;
    let firstBytes = '';
    const socket = connect({ host: '127.0.0.1', port: target.port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy(new BenchError('SLUICE_BENCH_TIMEOUT', `${target.kind} connection got no complete answer within ${PER_CONNECTION_TIMEOUT_MS} ms`));
    }, PER_CONNECTION_TIMEOUT_MS);
    socket.once('connect', () => socket.write(head));
    socket.on('data', (chunk: Buffer) => {
      if (ttfb === undefined) ttfb = performance.now() - started;
      if (firstBytes.length < 12) firstBytes += chunk.toString('latin1', 0, 12);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err instanceof BenchError ? err : new BenchError('SLUICE_BENCH_CONNECTION_FAILED', `${target.kind} connection failed: ${err.message}`, { cause: err }));
    });
    socket.once('close', (hadError) => {
      clearTimeout(timer);
      if (hadError) return;
      if (ttfb === undefined || !firstBytes.startsWith('HTTP/1.1 200')) {
        reject(new BenchError('SLUICE_BENCH_CONNECTION_FAILED', `${target.kind} connection closed with ${JSON.stringify(firstBytes)}, expected "HTTP/1.1 200"`));
        return;
      }
      resolve(ttfb);
    });
  });
}

/** `count` sequential new connections (Connection: close), after a few unrecorded warm-up ones. */
export async function sequentialTtfb(target: Target, count: number, signal: AbortSignal): Promise<TtfbResult> {
  const head = requestHead(target, PATH, 'close');
  for (let i = 0; i < WARMUP_CONNECTIONS; i++) {
    throwIfAborted(signal);
    await firstByteMs(target, head);
  }
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    throwIfAborted(signal);
    samples.push(await firstByteMs(target, head));
  }
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}
