import { createUser, encodeUser, fmtCreds, type KeyPair, type User } from '@nats-io/jwt';
import { agentPermissions } from '@sluice/contracts';
import { keyPairOf, type Trust, type TrustKey } from './trust.ts';

/** A user's credentials: the `.creds` text (user JWT + seed) and the key to revoke it by. */
export interface IssuedCreds {
  creds: string;
  userPublicKey: string;
}

/**
 * Credentials for a gateway service (edge, router, registry, ddns): a SLUICE user with no
 * subject restrictions. `name` shows in the server's connection list.
 */
export async function issueServiceCreds(trust: Trust, name: string): Promise<string> {
  return (await issueUser(trust.account, name, {})).creds;
}

/** Credentials in the system account, for pushing account updates (`pushAccountJwt`). */
export async function issueSystemCreds(trust: Trust, name = 'sluice-sys'): Promise<string> {
  return (await issueUser(trust.system, name, {})).creds;
}

/**
 * Credentials for one agent: publish and subscribe allow-lists from `agentPermissions(agentId)`,
 * nothing else. The agent must connect with `inboxPrefix: agentInboxPrefix(agentId)`. Keep
 * `userPublicKey`: revoking it (`accountJwtWithRevocations`) locks these credentials out.
 */
export async function issueAgentCreds(trust: Trust, agentId: string): Promise<IssuedCreds> {
  const p = agentPermissions(agentId);
  return issueUser(trust.account, agentId, { pub: { allow: p.publish }, sub: { allow: p.subscribe } });
}

async function issueUser(account: TrustKey, name: string, claims: Partial<User>): Promise<IssuedCreds> {
  const ukp: KeyPair = createUser();
  const jwt = await encodeUser(name, ukp, keyPairOf(account), claims);
  return { creds: new TextDecoder().decode(fmtCreds(jwt, ukp)), userPublicKey: ukp.getPublicKey() };
}
