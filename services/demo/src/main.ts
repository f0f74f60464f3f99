import { pino } from 'pino';
import { DemoError } from './errors.ts';
import { createDemoUpstream } from './upstream.ts';

function portFromEnv(name: string): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return 0;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new DemoError('SLUICE_DEMO_BAD_CONFIG', `${name} must be a port number 0..65535, got ${JSON.stringify(raw)}`);
  }
  return port;
}

// stdout carries only the machine-readable ready line; logs go to stderr.
const logger = pino({ name: 'demo' }, pino.destination(2));
const demo = createDemoUpstream(
  {
    host: process.env['DEMO_HOST'] ?? '127.0.0.1',
    httpPort: portFromEnv('DEMO_HTTP_PORT'),
    httpsPort: portFromEnv('DEMO_HTTPS_PORT'),
  },
  { logger },
);
await demo.start();
process.stdout.write(`${JSON.stringify({ event: 'ready', ...demo.address() })}\n`);

const shutdown = (signal: NodeJS.Signals): void => {
  logger.info({ signal }, 'demo.signal');
  demo.stop().catch((error: unknown) => {
    logger.error({ err: error }, 'demo.stop_failed');
    process.exitCode = 1;
  });
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
