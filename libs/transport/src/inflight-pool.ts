/**
 * The bytes a whole process may have in flight (sent, not yet acknowledged) across all of its
 * connections. Per-connection windows bound one slow reader; this bounds many at once, so 500
 * connections × a 4 MiB window never pile 2 GiB into the NATS client's write buffer (where
 * they would also delay heartbeats and PINGs behind them).
 */
export class InflightPool {
  private used = 0;
  private waiters: Array<() => void> = [];
  constructor(readonly limit: number) {}

  get full(): boolean {
    return this.used >= this.limit;
  }
  get inUse(): number {
    return this.used;
  }
  charge(n: number): void {
    this.used += n;
  }
  release(n: number): void {
    if (n <= 0) return;
    this.used = Math.max(0, this.used - n);
    while (!this.full && this.waiters.length > 0) this.waiters.shift()!();
  }
  /** Runs `fn` once the pool has room (FIFO among waiters). */
  whenRoom(fn: () => void): void {
    if (!this.full) fn();
    else this.waiters.push(fn);
  }
}
