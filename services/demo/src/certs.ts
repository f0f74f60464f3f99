import { fileURLToPath } from 'node:url';

export interface DemoCertPaths {
  /** Demo CA certificate: trust this to talk TLS to the demo upstream or to a gateway using the leaf. */
  ca: string;
  caKey: string;
  /** Leaf for localhost, 127.0.0.1, sluice.localhost, demo.sluice.localhost and their wildcards. */
  leaf: string;
  leafKey: string;
}

function certPath(file: string): string {
  return fileURLToPath(new URL(`../certs/${file}`, import.meta.url));
}

/** Absolute paths of the committed demo certificates (see certs/generate.sh). */
export const demoCertPaths: DemoCertPaths = {
  ca: certPath('ca.pem'),
  caKey: certPath('ca-key.pem'),
  leaf: certPath('leaf.pem'),
  leafKey: certPath('leaf-key.pem'),
};
