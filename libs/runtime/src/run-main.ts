import type { NatsConnection } from '@nats-io/transport-node';
import { trace, type Tracer } from '@opentelemetry/api';
import { connectNats, type NatsConnectOptions } from '@sluice/nats';
import { createLogger, createOpsServer, type Logger, type OpsServer } from '@sluice/telemetry';
import type { Registry } from 'prom-client';
import { startTracing, type Tracing } from './tracing.ts';

export interface Service {
  start(): Promise<unknown>;
  stop(): Promise<void>;
  readonly ready?: boolean;
}

export interface MainContext {
  nc: NatsConnection;
  /**
   * A second connection for heartbeats only: liveness must not queue behind megabytes of tunnel
   * bytes in the data connection's write buffer (an overloaded but live process looked dead).
   */
  controlNc: NatsConnection;
  logger: Logger;
  /** This service's Prometheus registry, served on /metrics. */
  metrics: Registry;
  /** The service's tracer: the SDK's when OTEL_* variables turn tracing on, else the API's no-op. */
  tracer: Tracer;
  env: NodeJS.ProcessEnv;
}

export interface RunMainOptions {
  /**
   * Credentials and inbox prefix for both connections, overriding `NATS_CREDS` (an agent's come
   * from its config, with the inbox prefix its permissions allow).
   */
  nats?: Pick<NatsConnectOptions, 'creds' | 'credsFile' | 'inboxPrefix'>;
}

/**
 * What every service's main.ts does, once: tracing (only when OTEL_* variables ask for it),
 * logger, NATS connection, /metrics + /healthz + /readyz, the factory, a `{"event":"ready"}` line
 * on stdout, and an orderly stop on SIGTERM/SIGINT (service.stop → nc.drain → spans exported →
 * exit).
 */
export async function runMain(
  name: string,
  build: (ctx: MainContext) => Service | Promise<Service>,
  readyInfo: (service: Service) => Record<string, unknown> = () => ({}),
  options: RunMainOptions = {},
): Promise<void> {
  const env = process.env;
  const logger = createLogger(name, env.LOG_LEVEL ?? 'info');
  // before anything creates a span: the API hands out no-op tracers until a provider is registered
  const tracing: Tracing | undefined = await startTracing(`sluice-${name}`, env, logger);
  let service: Service | undefined;
  let started = false;
  const ops: OpsServer = createOpsServer(name, () => started && (service?.ready ?? true));
  const opsPort = env.OPS_PORT ? await ops.listen(Number(env.OPS_PORT), env.OPS_HOST ?? '127.0.0.1') : undefined;
  // NATS_CREDS: a `.creds` file (operator-mode servers); the file is read again on each reconnect
  const natsOpts = {
    servers: (env.NATS_URL ?? 'nats://127.0.0.1:4222').split(','),
    ...(env.NATS_TOKEN ? { token: env.NATS_TOKEN } : {}),
    ...(env.NATS_CREDS ? { credsFile: env.NATS_CREDS } : {}),
    ...options.nats,
  };
  const nc = await connectNats({ ...natsOpts, name: `sluice-${name}` }, logger);
  const controlNc = await connectNats({ ...natsOpts, name: `sluice-${name}-control` }, logger);
  service = await build({ nc, controlNc, logger, metrics: ops.registry, tracer: trace.getTracer(`sluice-${name}`), env });
  let stopping = false;
  // the client reconnects forever unless the server keeps refusing our credentials (revoked,
  // expired): then it closes for good, and a process that cannot talk to anyone should say so and go
  for (const c of [nc, controlNc]) {
    void c.closed().then((err) => {
      if (stopping) return;
      logger.fatal({ err }, 'NATS connection closed for good (credentials revoked or refused?)');
      process.exit(1);
    });
  }
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    try {
      await service!.stop();
      await nc.drain();
      await controlNc.drain();
    } catch (err) {
      logger.error({ err }, 'error while stopping');
    }
    await tracing?.shutdown();
    await ops.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  try {
    await service.start();
  } catch (err) {
    logger.fatal({ err }, 'failed to start');
    await tracing?.shutdown();
    process.exit(1);
  }
  started = true;
  process.stdout.write(JSON.stringify({ event: 'ready', service: name, pid: process.pid, opsPort, tracing: tracing !== undefined, ...readyInfo(service) }) + '\n');
}

export function intEnv(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const v = env[key];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`${key} must be an integer, got "${v}"`);
  return n;
}
