import { isIPv4 } from 'node:net';

export interface RateLimitSettings {
  /** Responses per second one source network may get over UDP. */
  responsesPerSecond: number;
  /** Every `slip`-th limited response is sent truncated (TC, no records) instead of dropped, so a
   *  real client whose address is being forged can still get its answer over TCP; 0 drops all. */
  slip: number;
  /** Sources are counted per network: /24 for IPv4, /56 for IPv6 by default (like BIND's RRL). */
  ipv4PrefixLength: number;
  ipv6PrefixLength: number;
  /** Bound on the networks tracked at once; beyond it a new network shares one overflow budget. */
  maxTracked: number;
}

export type RateDecision = 'send' | 'slip' | 'drop';

interface Bucket {
  second: number;
  count: number;
  limited: number;
}

/**
 * Per-source response rate limiting for UDP, so the server cannot be used to flood a forged
 * source address (TCP needs a handshake, so it is not limited). Counts per one-second window per
 * source network; memory is bounded by `maxTracked`.
 */
export class ResponseRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private sweptAt = 0;

  constructor(
    private readonly settings: RateLimitSettings,
    private readonly nowMs: () => number = Date.now,
  ) {}

  decide(address: string): RateDecision {
    const second = Math.floor(this.nowMs() / 1000);
    let net = networkOf(address, this.settings);
    let b = this.buckets.get(net);
    if (!b) {
      if (this.buckets.size >= this.settings.maxTracked) this.sweep(second);
      if (this.buckets.size >= this.settings.maxTracked) net = 'overflow';
      b = this.buckets.get(net);
      if (!b) this.buckets.set(net, (b = { second, count: 0, limited: 0 }));
    }
    if (b.second !== second) {
      b.second = second;
      b.count = 0;
    }
    if (++b.count <= this.settings.responsesPerSecond) return 'send';
    b.limited++;
    return this.settings.slip > 0 && b.limited % this.settings.slip === 0 ? 'slip' : 'drop';
  }

  /** Forgets networks not seen in the current second. */
  private sweep(second: number): void {
    if (this.sweptAt === second) return;
    this.sweptAt = second;
    for (const [k, b] of this.buckets) if (b.second !== second) this.buckets.delete(k);
  }

  get tracked(): number {
    return this.buckets.size;
  }
}

/** The source network an address belongs to, as a map key. */
export function networkOf(address: string, s: Pick<RateLimitSettings, 'ipv4PrefixLength' | 'ipv6PrefixLength'>): string {
  const v4 = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
  if (isIPv4(v4)) {
    const p = v4.split('.').map(Number);
    const n = (((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0);
    const bits = s.ipv4PrefixLength;
    const masked = bits === 0 ? 0 : (n & (0xffffffff << (32 - bits))) >>> 0;
    return `4/${masked}`;
  }
  const groups = expandIPv6(address);
  const bits = s.ipv6PrefixLength;
  let out = '6/';
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, bits - i * 16));
    const g = keep === 0 ? 0 : groups[i]! & (0xffff << (16 - keep)) & 0xffff;
    out += g.toString(16) + ':';
  }
  return out;
}

function expandIPv6(address: string): number[] {
  const a = address.split('%')[0]!;
  const [head, tail] = a.includes('::') ? a.split('::') as [string, string] : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const missing = 8 - h.length - t.length;
  const all = [...h, ...Array<string>(Math.max(0, missing)).fill('0'), ...t];
  return all.slice(0, 8).map((g) => (g.includes('.') ? 0 : parseInt(g, 16) || 0));
}
