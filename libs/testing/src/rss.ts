import { readFileSync } from 'node:fs';

/** Resident set size of a live process in KiB, read from `/proc/<pid>/status` (Linux only). */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (match?.[1] === undefined) {
    throw new Error(`rssKiB: /proc/${pid}/status has no VmRSS line (is ${pid} a zombie or kernel thread?)`);
  }
  return Number(match[1]);
}
