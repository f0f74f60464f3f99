import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '@sluice/testing';

const cliBin = join(repoRoot, 'services/cli/bin/sluice.mjs');

export interface CliRun {
  readonly child: ChildProcess;
  /** Every stdout line parsed as JSON (`--json` prints one event per line); others as `{ text }`. */
  readonly lines: Array<Record<string, unknown>>;
  /** Resolves with the first line whose `event` is `name`, among lines from index `from` on (printed or to come). */
  event(name: string, timeoutMs?: number, from?: number): Promise<Record<string, unknown>>;
  readonly exit: Promise<number | null>;
  stdout(): string;
  stderr(): string;
}

/** The real CLI (`services/cli/bin/sluice.mjs`) as a child process, as a developer runs it. */
export function runCli(args: string[], env: Record<string, string>): CliRun {
  const nodeArgs = [cliBin, ...args];
  // setpriv: the CLI dies with the test runner, even if the runner is killed
  const [cmd, argv] = existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', ['--pdeathsig', 'KILL', '--', process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
  const child = spawn(cmd, argv, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn', ...env } });
  let err = '';
  let out = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (process.env.SLUICE_TEST_ECHO) process.stderr.write(`[cli ${args.slice(0, 2).join(' ')}] ${d.toString()}`);
  });
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    out += line + '\n';
    try {
      const v = JSON.parse(line) as unknown;
      lines.push(typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v });
    } catch {
      lines.push({ text: line });
    }
    for (const w of waiters.splice(0)) w();
  });
  const exit = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      for (const w of waiters.splice(0)) w();
      r(code);
    }),
  );
  return {
    child,
    lines,
    exit,
    stdout: () => out,
    stderr: () => err,
    event(name, timeoutMs = 30_000, from = 0) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`CLI printed no "${name}" event within ${timeoutMs} ms\nstdout:\n${out}\nstderr:\n${err}`)), timeoutMs);
        const check = (): void => {
          const hit = lines.slice(from).find((l) => l.event === name);
          if (hit) {
            clearTimeout(timer);
            resolve(hit);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            reject(new Error(`CLI exited (${child.exitCode ?? child.signalCode}) before a "${name}" event\nstdout:\n${out}\nstderr:\n${err}`));
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}

/** Runs a short CLI command to its end. */
export async function cliOnce(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = runCli(args, env);
  const code = await r.exit;
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}
