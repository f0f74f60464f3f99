import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { Type } from '@sinclair/typebox';
import { codec } from '@sluice/contracts';
import { accountJwtWithRevocations, issueAgentCreds, pushAccountJwt, type Trust } from '@sluice/auth';
import type { CredentialIssuer } from './core.ts';
import type { Store } from './store.ts';

const Revocation = codec('Revocation', Type.Object({ v: Type.Literal(1), userPublicKey: Type.String({ pattern: '^U[A-Z2-7]{55}$' }), at: Type.Integer() }));
const revocationKey = (pub: string): string => `revoked.${pub}`;

/**
 * Per-agent NATS credentials (user JWTs signed with the SLUICE account key, permissions from
 * `agentPermissions`) and their revocation: every revoked user key is kept in the registry's
 * bucket, and the whole list goes into a new account JWT pushed to the servers over the system
 * account. The server disconnects a revoked agent at once and refuses it from then on.
 */
export interface NatsIssuer extends CredentialIssuer {
  /** Pushes the account JWT with every stored revocation (at start: a server may have lost them). */
  sync(): Promise<void>;
}

export function createNatsIssuer(trust: Trust, sysNc: NatsConnection, store: Store, logger: Logger): NatsIssuer {
  const push = async (): Promise<void> => {
    const all = await store.list('revoked', Revocation);
    const map: Record<string, number> = {};
    for (const r of all) map[r.userPublicKey] = r.at;
    await pushAccountJwt(sysNc, await accountJwtWithRevocations(trust, map));
    logger.info({ revoked: all.length }, 'account JWT pushed to NATS');
  };
  return {
    async issueAgent(agentId) {
      const c = await issueAgentCreds(trust, agentId);
      return { creds: c.creds, publicKey: c.userPublicKey };
    },
    async revoke(publicKey) {
      // JWT times are whole seconds: a revocation covers credentials issued up to and including `at`
      await store.put(revocationKey(publicKey), Revocation, { v: 1, userPublicKey: publicKey, at: Math.floor(Date.now() / 1000) + 1 });
      await push();
    },
    sync: push,
  };
}
