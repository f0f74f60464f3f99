import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { SluiceError } from '@sluice/contracts';

/** Where `sluice login` keeps the API URL and token (mode 0600). */
export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'sluice', 'config.json');
}

export interface StoredLogin {
  api: string;
  token: string;
  user?: string;
}

export function readLogin(env: NodeJS.ProcessEnv = process.env): StoredLogin | undefined {
  const p = credentialsPath(env);
  if (!existsSync(p)) return undefined;
  try {
    const v = JSON.parse(readFileSync(p, 'utf8')) as Partial<StoredLogin>;
    return typeof v.api === 'string' && typeof v.token === 'string' ? { api: v.api, token: v.token, ...(v.user ? { user: v.user } : {}) } : undefined;
  } catch {
    return undefined;
  }
}

export function writeLogin(login: StoredLogin, env: NodeJS.ProcessEnv = process.env): string {
  const p = credentialsPath(env);
  mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
  writeFileSync(p, JSON.stringify(login, null, 2) + '\n', { mode: 0o600 });
  chmodSync(p, 0o600);
  return p;
}

export class ApiError extends SluiceError {
  constructor(
    code: string,
    message: string,
    readonly status: number,
  ) {
    super(code, message);
  }
}

/** A thin client of the registry's REST API: the CLI does nothing the API cannot. */
export class ApiClient {
  constructor(
    readonly base: string,
    private readonly token: string | undefined,
  ) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.base), {
        method,
        headers: { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (err) {
      throw new ApiError('SLUICE_API_UNREACHABLE', `cannot reach the registry API at ${this.base}: ${(err as Error).message}`, 0);
    }
    const text = await res.text();
    const json: unknown = text ? JSON.parse(text) : undefined;
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(e?.code ?? 'SLUICE_API_ERROR', e?.message ?? `HTTP ${res.status}`, res.status);
    }
    return json as T;
  }
}
