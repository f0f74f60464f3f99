/**
 * Bytes carried over the last minute, from the agent's monotonic totals sampled at each heartbeat.
 * The agent reports the figure itself, so the registry keeps nothing but each agent's last
 * heartbeat (a restarted registry shows it at once, a lost heartbeat loses nothing). At most one
 * sample a second is kept: 61 at most.
 */
export class RollingBytes {
  private readonly samples: Array<{ t: number; in: number; out: number }>;

  constructor(
    private readonly windowMs = 60_000,
    now = performance.now(),
  ) {
    this.samples = [{ t: now, in: 0, out: 0 }];
  }

  /**
   * Takes the totals at `now`; returns what was carried since the newest sample at least a window
   * old (over 60 s plus at most a sampling gap), or since the start when the agent is younger.
   */
  sample(totalIn: number, totalOut: number, now = performance.now()): { in: number; out: number } {
    const s = this.samples;
    if (now - s[s.length - 1]!.t >= 1000) s.push({ t: now, in: totalIn, out: totalOut });
    while (s.length > 1 && s[1]!.t <= now - this.windowMs) s.shift();
    const base = s[0]!;
    return { in: totalIn - base.in, out: totalOut - base.out };
  }
}
