/**
 * Exponential backoff with jitter: `initialMs`, doubling per failure up to `maxMs`, each delay
 * drawn from [0.8, 1.2) of the nominal one so that several agents do not retry in step.
 */
export class Backoff {
  private failures = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt, counting one more failure. */
  next(): number {
    const nominal = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return Math.min(this.maxMs, Math.round(nominal * (0.8 + 0.4 * this.random())));
  }

  reset(): void {
    this.failures = 0;
  }

  get attempts(): number {
    return this.failures;
  }
}
