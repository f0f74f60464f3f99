import { readFileSync } from 'node:fs';

/** What the heartbeat reports as this software, `sluice-agent/<package version>`. */
export const AGENT_VERSION = `sluice-agent/${(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version}`;
