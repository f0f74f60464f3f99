import { SluiceError } from '@sluice/contracts';

export type BenchErrorCode =
  | 'SLUICE_BENCH_BAD_ARGS'
  | 'SLUICE_BENCH_WRK_MISSING'
  | 'SLUICE_BENCH_WRK_FAILED'
  | 'SLUICE_BENCH_TRANSFER_FAILED'
  | 'SLUICE_BENCH_CONNECTION_FAILED'
  | 'SLUICE_BENCH_TIMEOUT'
  | 'SLUICE_BENCH_TUNNEL_NOT_READY'
  | 'SLUICE_BENCH_ABORTED';

/** Why a benchmark could not produce a figure; the message says what was expected. */
export class BenchError extends SluiceError {
  constructor(code: BenchErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Throws when the run was interrupted (SIGINT), so that every bounded loop stops at its next step. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new BenchError('SLUICE_BENCH_ABORTED', 'benchmark interrupted');
}
