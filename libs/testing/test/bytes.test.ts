import { describe, expect, it } from 'vitest';
import { PATTERN_BLOCK_BYTES, patternDigest, patternStream, sha256OfStream } from '../src/index.ts';

async function collect(size: number, seed: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of patternStream(size, seed)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('patternStream', () => {
  it('produces exactly the requested length, including partial and empty blocks', async () => {
    for (const size of [0, 1, 7, 8, 9, PATTERN_BLOCK_BYTES - 1, PATTERN_BLOCK_BYTES, 3 * PATTERN_BLOCK_BYTES + 5]) {
      expect((await collect(size, 1)).length).toBe(size);
    }
  });

  it('is deterministic per seed and differs across seeds and blocks', async () => {
    const a = await collect(2 * PATTERN_BLOCK_BYTES, 42);
    const b = await collect(2 * PATTERN_BLOCK_BYTES, 42);
    const c = await collect(2 * PATTERN_BLOCK_BYTES, 43);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
    expect(a.subarray(0, PATTERN_BLOCK_BYTES).equals(a.subarray(PATTERN_BLOCK_BYTES))).toBe(false);
  });

  it('is a prefix of a longer stream with the same seed', async () => {
    const short = await collect(100_000, 9);
    const long = await collect(300_000, 9);
    expect(long.subarray(0, short.length).equals(short)).toBe(true);
  });

  it('rejects a negative or fractional size', () => {
    expect(() => patternStream(-1)).toThrow(RangeError);
    expect(() => patternStream(1.5)).toThrow(RangeError);
  });
});

describe('sha256OfStream', () => {
  it('counts and digests what it reads', async () => {
    expect(await sha256OfStream([Buffer.from('abc')])).toEqual({
      bytes: 3,
      sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    });
    const digest = await patternDigest(1_000_000, 3);
    expect(digest.bytes).toBe(1_000_000);
    expect(digest).toEqual(await sha256OfStream(patternStream(1_000_000, 3)));
  });
});
