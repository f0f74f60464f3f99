import { request } from 'node:http';
import { BenchError } from './errors.ts';
import type { Target } from './target.ts';

/** Slowest transfer rate a run may have before it counts as stuck (bytes per second). */
const STUCK_BYTES_PER_SECOND = 5_000_000;

/**
 * Downloads `bytes` pattern bytes from `/bytes` and discards them, counting only; returns MB/s
 * (10^6 bytes per second) from request start to the last byte.
 */
export function downloadThroughput(target: Target, bytes: number, signal: AbortSignal): Promise<number> {
  const timeoutMs = 30_000 + (bytes / STUCK_BYTES_PER_SECOND) * 1000;
  return new Promise<number>((resolve, reject) => {
    const started = performance.now();
    let received = 0;
    const req = request(
      { host: '127.0.0.1', port: target.port, path: `/bytes?n=${bytes}&seed=7`, headers: { host: target.host }, agent: false, signal },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          fail(new BenchError('SLUICE_BENCH_TRANSFER_FAILED', `${target.kind} GET /bytes answered ${String(res.statusCode)}, expected 200`));
          return;
        }
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
        });
        res.once('end', () => {
          const seconds = (performance.now() - started) / 1000;
          if (received !== bytes) {
            fail(new BenchError('SLUICE_BENCH_TRANSFER_FAILED', `${target.kind} download ended after ${received} of ${bytes} bytes`));
            return;
          }
          clearTimeout(timer);
          resolve(bytes / 1e6 / seconds);
        });
        res.once('error', (cause) => fail(new BenchError('SLUICE_BENCH_TRANSFER_FAILED', `${target.kind} download broke after ${received} bytes: ${cause.message}`, { cause })));
      },
    );
    const timer = setTimeout(
      () => fail(new BenchError('SLUICE_BENCH_TIMEOUT', `${target.kind} download of ${bytes} bytes took over ${Math.round(timeoutMs / 1000)} s (${received} received)`)),
      timeoutMs,
    );
    const fail = (err: Error): void => {
      clearTimeout(timer);
      req.destroy();
      reject(err);
    };
    req.once('error', (cause) => fail(signal.aborted ? new BenchError('SLUICE_BENCH_ABORTED', 'benchmark interrupted') : new BenchError('SLUICE_BENCH_TRANSFER_FAILED', `${target.kind} GET /bytes failed: ${cause.message}`, { cause })));
    req.end();
  });
}
