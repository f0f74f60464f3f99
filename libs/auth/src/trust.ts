import { createAccount, createOperator, encodeAccount, encodeOperator, decode, fromSeed, type Account, type KeyPair } from '@nats-io/jwt';
import { InvalidTrustError } from './errors.ts';

/** One identity of the trust chain: its nkey seed (secret), public key and current JWT. */
export interface TrustKey {
  readonly name: string;
  readonly seed: string;
  readonly publicKey: string;
  /** Signed once at `createTrust`; a server preloads these (later account updates are pushed). */
  readonly jwt: string;
}

/**
 * The roots of a deployment's NATS decentralized auth: the operator, the system account (server
 * events, account updates) and the one application account, SLUICE, that every service and agent
 * connects to. Whoever holds the seeds can mint any user: persist it like a private key (mode 0600).
 */
export interface Trust {
  readonly operator: TrustKey;
  readonly system: TrustKey;
  readonly account: TrustKey;
}

export const SYSTEM_ACCOUNT_NAME = 'SYS';
export const APP_ACCOUNT_NAME = 'SLUICE';
const OPERATOR_NAME = 'sluice';

const NO_LIMITS = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

/** The SLUICE account's claims: JetStream enabled without limits (memory and file). */
export function appAccountClaims(revocations?: Record<string, number>): Partial<Account> {
  return {
    limits: { ...NO_LIMITS, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 },
    ...(revocations && Object.keys(revocations).length > 0 ? { revocations: { ...revocations } } : {}),
  };
}

export async function createTrust(): Promise<Trust> {
  const okp = createOperator();
  const skp = createAccount();
  const akp = createAccount();
  const operatorJwt = await encodeOperator(OPERATOR_NAME, okp, { system_account: skp.getPublicKey() });
  const systemJwt = await encodeAccount(SYSTEM_ACCOUNT_NAME, skp, { limits: NO_LIMITS }, { signer: okp });
  const accountJwt = await encodeAccount(APP_ACCOUNT_NAME, akp, appAccountClaims(), { signer: okp });
  return {
    operator: keyOf(OPERATOR_NAME, okp, operatorJwt),
    system: keyOf(SYSTEM_ACCOUNT_NAME, skp, systemJwt),
    account: keyOf(APP_ACCOUNT_NAME, akp, accountJwt),
  };
}

/** JSON text for a trust file (seeds included: write it with mode 0600). */
export function trustToJson(trust: Trust): string {
  const entry = (k: TrustKey) => ({ name: k.name, seed: k.seed, jwt: k.jwt });
  return `${JSON.stringify({ v: 1, operator: entry(trust.operator), system: entry(trust.system), account: entry(trust.account) }, null, 2)}\n`;
}

/** Reads what `trustToJson` wrote, checking every seed's kind and that each JWT is its key's. */
export function trustFromJson(text: string): Trust {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InvalidTrustError('trust: not JSON', { cause: err });
  }
  if (!isRecord(raw) || raw.v !== 1) throw new InvalidTrustError('trust: expected an object with v: 1');
  const trust = {
    operator: readKey(raw, 'operator', 'O', 'operator'),
    system: readKey(raw, 'system', 'A', 'account'),
    account: readKey(raw, 'account', 'A', 'account'),
  };
  for (const field of ['system', 'account'] as const) {
    if (decode(trust[field].jwt).iss !== trust.operator.publicKey) throw new InvalidTrustError(`trust: /${field}/jwt is not signed by /operator`);
  }
  return trust;
}

/** The key pair behind a trust entry (signing needs it; never log it). */
export function keyPairOf(key: TrustKey): KeyPair {
  return fromSeed(new TextEncoder().encode(key.seed));
}

function keyOf(name: string, kp: KeyPair, jwt: string): TrustKey {
  return { name, seed: new TextDecoder().decode(kp.getSeed()), publicKey: kp.getPublicKey(), jwt };
}

function readKey(raw: Record<string, unknown>, field: string, prefix: 'O' | 'A', type: string): TrustKey {
  const e = raw[field];
  if (!isRecord(e) || typeof e.name !== 'string' || typeof e.seed !== 'string' || typeof e.jwt !== 'string') {
    throw new InvalidTrustError(`trust: /${field} must have string name, seed and jwt`);
  }
  // an nkey seed is "S" + the key's prefix letter: SO… for an operator, SA… for an account
  if (!e.seed.startsWith(`S${prefix}`)) throw new InvalidTrustError(`trust: /${field}/seed is not an ${type} seed (expected S${prefix}…)`);
  let kp: KeyPair;
  try {
    kp = fromSeed(new TextEncoder().encode(e.seed));
  } catch (err) {
    throw new InvalidTrustError(`trust: /${field}/seed is not a valid nkey seed`, { cause: err });
  }
  let sub: string;
  let claimType: unknown;
  try {
    const claims = decode<{ type?: string }>(e.jwt);
    sub = claims.sub;
    claimType = claims.nats.type;
  } catch (err) {
    throw new InvalidTrustError(`trust: /${field}/jwt is not a valid signed JWT`, { cause: err });
  }
  if (sub !== kp.getPublicKey() || claimType !== type) {
    throw new InvalidTrustError(`trust: /${field}/jwt is not the ${type} JWT of /${field}/seed`);
  }
  return { name: e.name, seed: e.seed, publicKey: kp.getPublicKey(), jwt: e.jwt };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
