import cluster, { type Worker } from 'node:cluster';
import { createInterface } from 'node:readline';
import { createLogger } from '@sluice/telemetry';

/**
 * Runs `count` ddns processes that share one UDP socket and one TCP listener (node:cluster hands
 * the same bound handles to every worker; the kernel spreads datagrams among the readers). Node's
 * UDP path tops out near 35,000 datagrams per second in one process, so this is how ddns uses a
 * second core. Each worker is a whole ddns (its own NATS connection and copy of the records, as
 * any two replicas are). The primary only supervises: one ready line once every worker is ready,
 * a worker that dies is replaced, and SIGTERM/SIGINT stop them all.
 */
export async function runWorkers(count: number): Promise<void> {
  const logger = createLogger('ddns', process.env.LOG_LEVEL ?? 'info');
  cluster.setupPrimary({ silent: true });
  const ready = new Map<number, Record<string, unknown>>();
  let announced = false;
  let stopping = false;

  const fork = (): Worker => {
    const w = cluster.fork();
    w.process.stderr?.pipe(process.stderr);
    const rl = createInterface({ input: w.process.stdout! });
    rl.on('line', (line) => {
      let event: Record<string, unknown> | undefined;
      if (line.startsWith('{')) {
        try {
          event = JSON.parse(line) as Record<string, unknown>;
        } catch {
          event = undefined;
        }
      }
      if (event?.event !== 'ready') {
        process.stdout.write(line + '\n');
        return;
      }
      ready.set(w.id, event);
      if (!announced && ready.size === count) {
        announced = true;
        process.stdout.write(JSON.stringify({ ...event, pid: process.pid, workers: count, workerPids: [...Object.values(cluster.workers ?? {})].map((x) => x?.process.pid) }) + '\n');
      }
    });
    w.on('exit', (code, signal) => {
      ready.delete(w.id);
      if (stopping) return;
      logger.error({ worker: w.process.pid, code, signal }, 'ddns worker exited; starting another');
      setTimeout(() => {
        if (!stopping) fork();
      }, 1000).unref();
    });
    return w;
  };
  for (let i = 0; i < count; i++) fork();

  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, workers: count }, 'stopping workers');
    const live = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const exits = live.map((w) => new Promise<void>((r) => (w.isDead() ? r() : w.once('exit', () => r()))));
    for (const w of live) w.process.kill('SIGTERM');
    const force = setTimeout(() => {
      for (const w of live) if (!w.isDead()) w.process.kill('SIGKILL');
    }, 15_000);
    void Promise.all(exits).then(() => {
      clearTimeout(force);
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
