// Drives an HttpRequestFramer the way the edge does and checks the invariants on every push:
// outputs are exactly the bytes pushed, in order, and what is held is bounded.

import {
  HttpRequestFramer,
  type FramerOutput,
  type HttpRequestFramerOptions,
  type RequestHead,
} from '../../src/index.ts';

export interface Request {
  head: RequestHead;
  raw: Buffer;
  /** Every byte after this head up to the next one (chunk framing included). */
  body: Buffer;
}

export interface FramingRun {
  requests: Request[];
  error: unknown;
  framer: HttpRequestFramer;
  /** Bytes accepted by pushes that returned (outputs + held). */
  accepted: number;
}

/** Pushes `segments` in order; stops at the first throw and reports it instead of rethrowing. */
export function frameSegments(segments: Buffer[], opts?: HttpRequestFramerOptions): FramingRun {
  const framer = new HttpRequestFramer(opts);
  const max = opts?.maxHeadBytes ?? 16384;
  const input = Buffer.concat(segments);
  const requests: Request[] = [];
  const bodyParts: Buffer[][] = [];
  let pushed = 0;
  let emitted = 0;
  let error: unknown = null;
  for (const segment of segments) {
    let outputs: FramerOutput[];
    try {
      outputs = framer.push(segment);
    } catch (err) {
      error = err;
      break;
    }
    pushed += segment.length;
    for (const o of outputs) {
      const bytes = o.kind === 'head' ? o.raw : o.data;
      if (!bytes.equals(input.subarray(emitted, emitted + bytes.length))) {
        throw new Error(`byte conservation broken at offset ${emitted}`);
      }
      emitted += bytes.length;
      if (o.kind === 'head') {
        requests.push({ head: o.head, raw: o.raw, body: Buffer.alloc(0) });
        bodyParts.push([]);
      } else {
        const parts = bodyParts[bodyParts.length - 1];
        if (parts === undefined) throw new Error('body output before any head');
        parts.push(o.data);
      }
    }
    if (pushed - emitted !== framer.heldBytes) {
      throw new Error(`held ${framer.heldBytes} bytes but ${pushed - emitted} are unaccounted for`);
    }
    if (framer.heldBytes > max) throw new Error(`held ${framer.heldBytes} bytes, more than maxHeadBytes ${max}`);
    if (framer.heldBytes > 0 && !framer.inHead) throw new Error('holding bytes outside a head');
  }
  requests.forEach((r, i) => (r.body = Buffer.concat(bodyParts[i]!)));
  return { requests, error, framer, accepted: pushed };
}

export function frame(input: Buffer | string, opts?: HttpRequestFramerOptions): FramingRun {
  return frameSegments([typeof input === 'string' ? Buffer.from(input, 'latin1') : input], opts);
}

/** Splits at the given offsets (sorted, deduplicated, within bounds). */
export function splitAt(input: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < input.length))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(input.subarray(prev, p));
    prev = p;
  }
  out.push(input.subarray(prev));
  return out;
}

export function oneByteSegments(input: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i++) out.push(input.subarray(i, i + 1));
  return out;
}

/** What two runs over the same bytes must agree on, whatever the segmentation. */
export function summary(run: FramingRun): unknown {
  return {
    requests: run.requests.map((r) => ({ head: r.head, raw: r.raw.toString('latin1'), body: r.body.toString('latin1') })),
    error: run.error === null ? null : (run.error as Error).constructor.name,
  };
}
