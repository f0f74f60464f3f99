import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

/** Size of the pseudo-random block every pattern stream is made of. */
export const PATTERN_BLOCK_BYTES = 64 * 1024;

/**
 * One block of mulberry32 output for `seed`. Generating randomness per byte would cap the stream at a
 * few hundred MB/s; one block per stream, copied and stamped with its index, keeps it near memcpy speed
 * while no two blocks of a stream are equal (so reordering or duplication changes the digest).
 */
function patternBaseBlock(seed: number): Buffer {
  const block = Buffer.allocUnsafe(PATTERN_BLOCK_BYTES);
  let state = seed >>> 0;
  for (let offset = 0; offset < PATTERN_BLOCK_BYTES; offset += 4) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    block.writeUInt32LE((t ^ (t >>> 14)) >>> 0, offset);
  }
  return block;
}

/**
 * A deterministic byte stream of exactly `totalBytes` bytes: block `i` is the seed's base block with
 * its first 8 bytes replaced by `i` (little-endian u64); the last block is truncated. The content
 * depends only on `(totalBytes, seed)`, never on how the consumer reads it.
 */
export function patternStream(totalBytes: number, seed = 1): Readable {
  if (!Number.isSafeInteger(totalBytes) || totalBytes < 0) {
    throw new RangeError(`patternStream: totalBytes must be a non-negative safe integer, got ${totalBytes}`);
  }
  const base = patternBaseBlock(seed);
  let blockIndex = 0;
  let emitted = 0;
  return new Readable({
    highWaterMark: 4 * PATTERN_BLOCK_BYTES,
    read() {
      for (;;) {
        const remaining = totalBytes - emitted;
        if (remaining <= 0) {
          this.push(null);
          return;
        }
        const block = Buffer.allocUnsafe(PATTERN_BLOCK_BYTES);
        base.copy(block);
        block.writeUInt32LE(blockIndex >>> 0, 0);
        block.writeUInt32LE(Math.floor(blockIndex / 2 ** 32) >>> 0, 4);
        blockIndex += 1;
        const chunk = remaining < PATTERN_BLOCK_BYTES ? block.subarray(0, remaining) : block;
        emitted += chunk.length;
        if (!this.push(chunk)) return;
      }
    },
  });
}

export interface StreamDigest {
  /** Number of bytes the stream produced. */
  bytes: number;
  /** Lower-case hex SHA-256 of those bytes. */
  sha256: string;
}

/** Consumes `source` (a Readable, an http2 stream, any async iterable of bytes) and digests it. */
export async function sha256OfStream(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
): Promise<StreamDigest> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of source) {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    bytes += data.byteLength;
    hash.update(data);
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** Digest of `patternStream(totalBytes, seed)`: what a receiver of that stream must compute. */
export function patternDigest(totalBytes: number, seed = 1): Promise<StreamDigest> {
  return sha256OfStream(patternStream(totalBytes, seed));
}
