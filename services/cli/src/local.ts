import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** What `npm run up` writes to `.sluice/local.json`, so `sluice http` needs no flags. */
export interface LocalGateway {
  natsUrl: string;
  httpPort: number;
  tlsPort: number;
  zone: string;
  /** The registry's REST API, e.g. http://127.0.0.1:8081. */
  apiUrl?: string;
  /** `npm run up -- --auth`: NATS in operator mode, agents need their own credentials. */
  auth?: boolean;
}

export function findLocalGateway(from = process.cwd()): LocalGateway | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const f = join(dir, '.sluice', 'local.json');
    if (existsSync(f)) return JSON.parse(readFileSync(f, 'utf8')) as LocalGateway;
    if (dirname(dir) === dir) return undefined;
  }
}
