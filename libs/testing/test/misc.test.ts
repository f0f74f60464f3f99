import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, rssKiB } from '../src/index.ts';

describe('freePort', () => {
  it('returns a port that can be listened on', async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
    expect(port).toBeGreaterThan(0);
  });
});

describe('rssKiB', () => {
  it('reads the resident set size of a live process', () => {
    const kib = rssKiB(process.pid);
    expect(kib).toBeGreaterThan(1024);
    expect(kib * 1024).toBeLessThan(process.memoryUsage().rss * 2);
  });

  it('fails clearly for a process that does not exist', () => {
    expect(() => rssKiB(2 ** 22 + 12345)).toThrow(/ENOENT/);
  });
});
