#!/usr/bin/env node
// First step of `npm run up`, `npm test` and `npm run bench` on a fresh machine: install the npm
// packages if they are missing, and nats-server (plus wrk for the benchmark) from Debian's
// packages when the machine lacks them. Plain JS: it runs before anything is installed.
import { execSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const want = process.argv.slice(2); // extra Debian tools, e.g. "wrk"
// `npm test` validates docker-compose.yml with Compose itself (Debian's docker-compose; no engine needed)
if (process.env.npm_lifecycle_event === 'test' && !want.includes('docker-compose')) want.push('docker-compose');

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd} || test -x /usr/sbin/${cmd}`], { stdio: 'ignore' }).status === 0;
}

if (!existsSync(`${root}/node_modules/.package-lock.json`)) {
  console.error('[sluice] installing npm packages (npm ci)…');
  execSync('npm ci --no-audit --no-fund --loglevel=warn', { cwd: root, stdio: 'inherit' });
}

// each extra is `command` or `command=debian-package`
const missing = [['nats-server', 'nats-server'], ...want.map((w) => (w.includes('=') ? w.split('=', 2) : [w, w]))].filter(([cmd]) => !has(cmd)).map(([, pkg]) => pkg);
if (missing.length > 0) {
  const isRoot = process.getuid?.() === 0;
  const apt = has('apt-get');
  if (!apt) {
    console.error(`[sluice] missing: ${missing.join(', ')}. Install them (e.g. nats-server from https://nats.io) and retry.`);
    process.exit(1);
  }
  const sudo = isRoot ? '' : 'sudo ';
  console.error(`[sluice] installing ${missing.join(', ')} from Debian's packages…`);
  execSync(`${sudo}apt-get update -qq && ${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing.join(' ')}`, { stdio: 'inherit' });
}
