import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { rssKiB } from '@sluice/testing';
import { BenchError, throwIfAborted } from './errors.ts';
import { requestHead, type Target } from './target.ts';

const PATH = '/size?n=1';
const OPEN_TIMEOUT_MS = 10_000;
/** High enough that 1,000 open well inside the upstream's 5 s keep-alive timeout on a busy 2-core machine. */
const OPEN_CONCURRENCY = 64;
const WARMUP_CONNECTIONS = 300;
/** Let the processes finish the work of opening before reading RSS (short: see IdleResult.closedEarly). */
const SETTLE_MS = 500;
const CLOSE_TIMEOUT_MS = 10_000;

export interface MeasuredProcess {
  readonly name: string;
  readonly pid: number;
}

export interface IdleResult {
  /** Worst process's RSS growth divided by the connections held, KiB. */
  perConnectionKiB: number;
  worst: string;
  deltasKiB: Record<string, number>;
  held: number;
  /**
   * Connections closed before the second RSS reading: the demo upstream closes a keep-alive
   * connection after Node's default 5 s idle timeout, so opening them all must take less than that.
   */
  closedEarly: number;
  /** How long opening them all took. */
  openMs: number;
}

/** Opens one connection, sends a keep-alive request and reads its whole response; resolves with the idle socket. */
function openIdle(target: Target, head: string): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: target.port, noDelay: true });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy(new BenchError('SLUICE_BENCH_TIMEOUT', `${target.kind} idle connection got no response within ${OPEN_TIMEOUT_MS} ms`));
    }, OPEN_TIMEOUT_MS);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(err instanceof BenchError ? err : new BenchError('SLUICE_BENCH_CONNECTION_FAILED', `${target.kind} idle connection failed: ${err.message}`, { cause: err }));
    };
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const headEnd = buf.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const headText = buf.toString('latin1', 0, headEnd);
      if (!headText.startsWith('HTTP/1.1 200')) return fail(new Error(`answered ${JSON.stringify(headText.slice(0, 40))}, expected HTTP/1.1 200`));
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(headText)?.[1] ?? Number.NaN);
      if (!Number.isSafeInteger(length)) return fail(new Error('response has no Content-Length'));
      if (buf.length < headEnd + 4 + length) return;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', fail);
      socket.removeListener('close', onEarlyClose);
      resolve(socket);
    };
    const onEarlyClose = (): void => fail(new Error('closed before the response was complete'));
    socket.on('data', onData);
    socket.once('error', fail);
    socket.once('close', onEarlyClose);
    socket.once('connect', () => socket.write(head));
  });
}

/** Opens `count` connections, at most OPEN_CONCURRENCY at a time, and hands each to `use`. */
async function openMany(target: Target, count: number, signal: AbortSignal, use: (socket: Socket) => Promise<void> | void): Promise<void> {
  const head = requestHead(target, PATH, 'keep-alive');
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      throwIfAborted(signal);
      const socket = await openIdle(target, head);
      socket.on('error', () => undefined);
      await use(socket);
    }
  };
  await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, count) }, worker));
}

async function closeAll(sockets: Socket[]): Promise<void> {
  const closed = sockets.map((s) => (s.closed ? Promise.resolve() : new Promise<void>((r) => s.once('close', () => r()))));
  for (const s of sockets) s.destroy();
  await Promise.race([Promise.all(closed), sleep(CLOSE_TIMEOUT_MS)]);
}

function readRss(processes: readonly MeasuredProcess[]): Map<string, number> {
  return new Map(processes.map((p) => [p.name, rssKiB(p.pid)]));
}

/**
 * Holds `count` idle tunneled connections (each has carried one request, so its tunnel is set up)
 * and reports the RSS each process grew by.
 */
export async function idleConnectionCost(target: Target, count: number, processes: readonly MeasuredProcess[], signal: AbortSignal): Promise<IdleResult> {
  const held: Socket[] = [];
  try {
    // churn first (each connection closed as soon as it answered): the young-generation growth and
    // code that routing any connection costs are then in the baseline, and few are held at once
    await openMany(target, Math.min(WARMUP_CONNECTIONS, count), signal, (s) => closeAll([s]));
    await sleep(SETTLE_MS);
    const before = readRss(processes);
    const opening = performance.now();
    await openMany(target, count, signal, (s) => void held.push(s));
    const openMs = performance.now() - opening;
    await sleep(SETTLE_MS);
    const after = readRss(processes);
    const closedEarly = held.filter((s) => s.closed || s.readableEnded).length;
    const deltasKiB: Record<string, number> = {};
    let worst = '';
    let worstDelta = Number.NEGATIVE_INFINITY;
    for (const p of processes) {
      const delta = after.get(p.name)! - before.get(p.name)!;
      deltasKiB[p.name] = delta;
      if (delta > worstDelta) {
        worstDelta = delta;
        worst = p.name;
      }
    }
    return { perConnectionKiB: worstDelta / count, worst, deltasKiB, held: count, closedEarly, openMs };
  } finally {
    await closeAll(held);
  }
}
