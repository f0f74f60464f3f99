import { pino, type Logger } from 'pino';

/** One JSON line per event on stderr; level from the caller (main.ts reads LOG_LEVEL). */
export function createLogger(service: string, level = 'info'): Logger {
  return pino({ name: service, level, base: { service } }, pino.destination(2));
}
export type { Logger };
