import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';

export const repoRoot = resolve(fileURLToPath(new URL('../../..', import.meta.url)));

export interface ServiceProcess {
  readonly name: string;
  readonly pid: number;
  /** The `{"event":"ready",…}` line the service printed. */
  readonly ready: Record<string, unknown>;
  readonly child: ChildProcess;
  /** Last lines of its stderr (pino logs), for failure messages. */
  logs(): string;
  /** SIGTERM and wait for exit (graceful stop). */
  stop(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  readonly exited: Promise<number | null>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/**
 * Runs `services/<name>/src/main.ts` (or any entry) as a child process through tsx and waits
 * for its ready line. Tests about the services' interplay use real processes (style §7).
 */
export async function spawnService(
  name: string,
  entry: string,
  env: Record<string, string>,
  opts: { args?: string[]; readyTimeoutMs?: number; readyMatch?: (line: string) => Record<string, unknown> | null } = {},
): Promise<ServiceProcess> {
  const nodeArgs = ['--import', 'tsx', resolve(repoRoot, entry), ...(opts.args ?? [])];
  // setpriv makes the kernel kill the service if we die (even by SIGKILL); its own process group
  // keeps a terminal's Ctrl-C to us, so we can stop the services in order
  const [cmd, args] = existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', ['--pdeathsig', 'KILL', '--', process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
  const child = spawn(cmd, args, {
    cwd: repoRoot,
    env: { ...process.env, LOG_LEVEL: process.env.SLUICE_TEST_LOG_LEVEL ?? 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  live.add(child);
  const tail: string[] = [];
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    tail.push(d);
    if (tail.length > 200) tail.splice(0, tail.length - 200);
    if (process.env.SLUICE_TEST_ECHO) process.stderr.write(`[${name}] ${d}`);
  });
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      live.delete(child);
      r(code);
    }),
  );
  const match = opts.readyMatch ?? ((line: string) => {
    if (!line.startsWith('{')) return null;
    try {
      const j = JSON.parse(line) as Record<string, unknown>;
      return j.event === 'ready' ? j : null;
    } catch {
      return null;
    }
  });
  const stdoutLines: string[] = [];
  const ready = await new Promise<Record<string, unknown>>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready within ${opts.readyTimeoutMs ?? 30_000} ms\n${tail.join('')}`)), opts.readyTimeoutMs ?? 30_000);
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      stdoutLines.push(line);
      const r = match(line);
      if (r) {
        clearTimeout(timer);
        resolveReady(r);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${String(code)} before it was ready\n${tail.join('')}`));
    });
  });
  return {
    name,
    pid: child.pid!,
    ready: { ...ready, stdout: stdoutLines },
    child,
    exited,
    logs: () => tail.join(''),
    async stop(timeoutMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
