import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClientHelloFixture } from '../fixtures/capture.ts';

const fixturesDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

export function readFixture(name: string): Buffer {
  return readFileSync(join(fixturesDir, name));
}

export interface LoadedHello extends ClientHelloFixture {
  bytes: Buffer;
  /** What the parser must report: OpenSSL's view, lowercased with a trailing dot stripped. */
  expectedServerName: string | null;
}

export function loadClientHelloFixtures(): LoadedHello[] {
  const manifest = JSON.parse(readFileSync(join(fixturesDir, 'client-hellos.json'), 'utf8')) as ClientHelloFixture[];
  return manifest.map((f) => ({
    ...f,
    bytes: readFixture(f.file),
    expectedServerName: f.openssl.servername === null ? null : f.openssl.servername.toLowerCase().replace(/\.$/, ''),
  }));
}

export const HTTP_FIXTURES = [
  'http-curl-get.bin',
  'http-node-chunked-trailers.bin',
  'http-keepalive-pipeline.bin',
  'http-websocket-upgrade.bin',
  'smuggle-cl-te.bin',
  'smuggle-te-obs-fold.bin',
  'smuggle-double-cl.bin',
  'smuggle-bad-chunk-size.bin',
  'smuggle-bare-lf.bin',
  'smuggle-chunk-ext-bare-lf.bin',
  'smuggle-te-gzip-chunked.bin',
  'http2-prior-knowledge-preface.bin',
] as const;
