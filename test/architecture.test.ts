import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@sluice/testing';

/** `@sluice/<x>` package names of the workspaces under `dir` (libs or services). */
function packagesUnder(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const d of readdirSync(join(repoRoot, dir))) {
    try {
      const name = (JSON.parse(readFileSync(join(repoRoot, dir, d, 'package.json'), 'utf8')) as { name: string }).name;
      out.set(name, `${dir}/${d}`);
    } catch {
      // not a workspace
    }
  }
  return out;
}

/** Every `@sluice/...` module a workspace's sources import (static and dynamic). */
function sluiceImports(workspace: string): Array<{ file: string; spec: string }> {
  const src = join(repoRoot, workspace, 'src');
  const found: Array<{ file: string; spec: string }> = [];
  for (const f of readdirSync(src, { recursive: true }).map(String)) {
    if (!/\.(ts|tsx)$/.test(f)) continue;
    const text = readFileSync(join(src, f), 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\(\s*)['"](@sluice\/[a-z0-9-]+)(?:\/[^'"]*)?['"]/g)) found.push({ file: `${workspace}/src/${f}`, spec: m[1]! });
  }
  return found;
}

describe('architecture (style: no service imports another service)', () => {
  const services = packagesUnder('services');
  const libs = packagesUnder('libs');

  it('finds the workspaces', () => {
    expect(services.size).toBeGreaterThanOrEqual(8);
    expect(libs.has('@sluice/contracts')).toBe(true);
  });

  it('services import only libraries; libraries import only libraries', () => {
    const wrong: string[] = [];
    for (const [, ws] of [...services, ...libs]) {
      for (const { file, spec } of sluiceImports(ws)) {
        if (libs.has(spec)) continue;
        wrong.push(`${file} imports ${spec} (${services.get(spec) ?? 'unknown'})`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
