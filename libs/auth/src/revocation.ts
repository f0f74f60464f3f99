import { decode, encodeAccount } from '@nats-io/jwt';
import type { NatsConnection } from '@nats-io/transport-node';
import { ClaimsUpdateError } from './errors.ts';
import { appAccountClaims, keyPairOf, type Trust } from './trust.ts';

/** nats-server's subject for account JWT updates (system account only). */
const CLAIMS_UPDATE = '$SYS.REQ.CLAIMS.UPDATE';

/**
 * A new SLUICE account JWT, same limits, revoking every user in `revoked`: a user key mapped to
 * `t` (unix seconds) is refused if its JWT was issued at or before `t`. The map is the whole
 * list (the JWT replaces the previous one), so callers keep every revocation they ever made.
 */
export async function accountJwtWithRevocations(trust: Trust, revoked: Readonly<Record<string, number>>): Promise<string> {
  const account = keyPairOf(trust.account);
  // nats-server keeps the account JWT with the later `iat` (whole seconds) and lets an equal one
  // replace it: a revocation issued in the same second as the original (the one the server config
  // preloads at every start) or as the previous update could be undone by a restart. So each JWT
  // here is issued at least a second after both.
  const floor = Math.max(decode(trust.account.jwt).iat, lastIssuedAt.get(trust.account.publicKey) ?? 0) + 1;
  const wait = floor * 1000 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const jwt = await encodeAccount(trust.account.name, account, appAccountClaims({ ...revoked }), { signer: keyPairOf(trust.operator) });
  lastIssuedAt.set(trust.account.publicKey, decode(jwt).iat);
  return jwt;
}

/** The `iat` of the last account JWT issued here, per account public key. */
const lastIssuedAt = new Map<string, number>();

interface ClaimsUpdateReply {
  data?: { code?: number; account?: string; message?: string };
  error?: { code?: number; account?: string; description?: string };
}

/**
 * Sends an account JWT to the server over a system-account connection and waits for its answer.
 * The server stores it (resolver dir) and applies it at once: clients of revoked users are
 * disconnected. Rejects with ClaimsUpdateError when the server refuses it or nobody answers.
 */
export async function pushAccountJwt(sysNc: NatsConnection, jwt: string, opts: { timeoutMs?: number } = {}): Promise<void> {
  let text: string;
  try {
    text = (await sysNc.request(CLAIMS_UPDATE, jwt, { timeout: opts.timeoutMs ?? 5_000 })).string();
  } catch (err) {
    throw new ClaimsUpdateError(`no answer on ${CLAIMS_UPDATE} (is this a system-account connection to a server with a full resolver?)`, { cause: err });
  }
  let reply: ClaimsUpdateReply;
  try {
    reply = JSON.parse(text) as ClaimsUpdateReply;
  } catch (err) {
    throw new ClaimsUpdateError(`unexpected answer on ${CLAIMS_UPDATE}: ${text.slice(0, 200)}`, { cause: err });
  }
  if (reply.error || reply.data?.code !== 200) {
    throw new ClaimsUpdateError(`account update refused: ${reply.error?.description ?? text.slice(0, 200)}`);
  }
}
