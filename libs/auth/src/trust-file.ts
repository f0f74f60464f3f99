import { chmod, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { InvalidTrustError } from './errors.ts';
import { trustFromJson, trustToJson, type Trust } from './trust.ts';

/**
 * Writes the trust (seeds included) readable by its owner only: a temp file with mode 0600 renamed
 * over `path`, so a crash never leaves half a file and no other user ever sees the seeds.
 */
export async function writeTrustFile(path: string, trust: Trust): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, trustToJson(trust), { mode: 0o600, flag: 'w' });
  await chmod(tmp, 0o600); // the umask cannot widen it, but an existing tmp file kept its mode
  await rename(tmp, path);
}

/** Reads a trust file, refusing one that others may read (its seeds mint any user). */
export async function readTrustFile(path: string): Promise<Trust> {
  const mode = (await stat(path)).mode & 0o777;
  // 0600 as written here; 0440/0640 as Kubernetes mounts a Secret for a non-root pod (root-owned,
  // the pod's fsGroup may read): anything that lets other users read it or the group write it is refused
  if ((mode & 0o027) !== 0) {
    throw new InvalidTrustError(`${path}: mode ${mode.toString(8)} lets others read or change the trust seeds (expected 600: chmod 600 ${path})`);
  }
  return trustFromJson(await readFile(path, 'utf8'));
}
