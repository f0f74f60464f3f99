import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError, type RegistryCore } from './core.ts';
import { recordCodecs } from './records.ts';
import { keys, parseSecret } from './store.ts';

/**
 * The dashboard's session: a cookie holding an API token of its own (`dashboard session`, created
 * at sign-in, revoked at sign-out), so the page never holds the user's long-lived CLI token and a
 * sign-out ends the session on every registry replica. Cookie-authenticated requests that change
 * state must carry `x-csrf-token`: a hash of the session token that only the page (which read it
 * from `GET /session`, same origin) knows; another site can make the browser send the cookie only
 * where SameSite=Strict does not already stop it, and never the header.
 */
export const SESSION_TOKEN_NAME = 'dashboard session';
export const SESSION_TTL_MS = 12 * 3600 * 1000;
export const CSRF_HEADER = 'x-csrf-token';
/** Over HTTPS the `__Host-` prefix stops a sibling subdomain (an agent's tunnel name) from planting a cookie. */
const COOKIE = 'sluice_session';
const SECURE_COOKIE = `__Host-${COOKIE}`;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export class CsrfError extends RegistryError {
  constructor() {
    super('SLUICE_CSRF', `a request authenticated by the session cookie that changes state needs the ${CSRF_HEADER} header from GET /session`, 403);
  }
}

export class SessionExpiredError extends RegistryError {
  constructor() {
    super('SLUICE_SESSION_EXPIRED', 'the dashboard session expired or was signed out; sign in again', 401);
  }
}

/** The CSRF token bound to a session token (derived, so any replica can check it without shared state). */
export function csrfFor(sessionToken: string): string {
  return createHash('sha256').update(`sluice-csrf\0${sessionToken}`).digest('base64url');
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Throws CsrfError (403) unless the request carries the CSRF token of `sessionToken`. */
export function checkCsrf(req: FastifyRequest, sessionToken: string): void {
  const sent = req.headers[CSRF_HEADER];
  if (typeof sent !== 'string' || !sameSecret(sent, csrfFor(sessionToken))) throw new CsrfError();
}

/** The session token in the request's cookie, if any (not yet checked). */
export function sessionCookie(req: FastifyRequest): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  let plain: string | undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (!/^[A-Za-z0-9_-]{1,256}$/.test(value)) continue;
    if (name === SECURE_COOKIE) return value;
    if (name === COOKIE) plain = value;
  }
  return plain;
}

/**
 * The API token a cookie-authenticated request carries, for the API's authentication hook: checks
 * the CSRF header on state-changing methods (403) and that the token is a live dashboard session
 * (not a CLI token planted in a cookie, not past its lifetime). Unknown tokens are returned as they
 * are, so the hook counts them as failed authentications.
 */
export async function sessionCredential(core: RegistryCore, req: FastifyRequest): Promise<string | undefined> {
  const token = sessionCookie(req);
  if (token === undefined) return undefined;
  if (!SAFE_METHODS.has(req.method)) checkCsrf(req, token);
  const p = parseSecret('slt', token);
  const rec = p ? await core.store.get(keys.token(p.id), recordCodecs.token) : null;
  if (rec && (rec.value.name !== SESSION_TOKEN_NAME || Date.now() - rec.value.createdAt > SESSION_TTL_MS)) throw new SessionExpiredError();
  return token;
}

export function setSessionCookie(req: FastifyRequest, reply: FastifyReply, token: string): void {
  const secure = req.protocol === 'https';
  reply.header('set-cookie', `${secure ? SECURE_COOKIE : COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}${secure ? '; Secure' : ''}`);
}

export function clearSessionCookie(req: FastifyRequest, reply: FastifyReply): void {
  const secure = req.protocol === 'https';
  reply.header('set-cookie', `${secure ? SECURE_COOKIE : COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`);
}

/** Ends a user's sessions older than the lifetime (a session that was never signed out). */
export async function pruneSessions(core: RegistryCore, user: string, now = Date.now()): Promise<void> {
  for (const t of await core.listTokens(user)) {
    if (t.name === SESSION_TOKEN_NAME && now - t.createdAt > SESSION_TTL_MS) await core.revokeToken(user, t.id);
  }
}
