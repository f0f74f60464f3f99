import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export interface CapturedLog {
  logger: Logger;
  /** Every line logged, parsed. */
  entries(): Array<Record<string, unknown>>;
  /** Just the `msg` of each line, in order. */
  messages(): string[];
}

/** A debug-level pino logger that keeps its lines in memory, for asserting on what was reported. */
export function captureLogger(): CapturedLog {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      cb();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const entries = (): Array<Record<string, unknown>> => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, entries, messages: () => entries().map((e) => String(e['msg'])) };
}
