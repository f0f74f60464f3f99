import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startNats } from '../src/index.ts';

/** Gone or a zombie: the sandbox's init does not always reap re-parented children. */
function isDead(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

describe('startNats cleanup', () => {
  it('takes its nats-server down when the test process is SIGKILLed', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/hold-nats.ts', import.meta.url));
    const holder = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [line] = (await once(createInterface({ input: holder.stdout }), 'line')) as [string];
      const { pid } = JSON.parse(line) as { pid: number };
      expect(isDead(pid)).toBe(false);
      holder.kill('SIGKILL');
      await expect.poll(() => isDead(pid), { timeout: 5_000 }).toBe(true);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('sweeps temp dirs left by processes that died', async () => {
    const deadPid = spawnSync('true').pid;
    expect(deadPid).toBeDefined();
    const stale = join(tmpdir(), `sluice-nats-store-${deadPid}-leftover`);
    await mkdir(join(stale, 'jetstream'), { recursive: true });

    const server = await startNats({ jetstream: false });
    await server.stop();
    expect(existsSync(stale)).toBe(false);
  });
});
