import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { AuthorizationError, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConsumers, agentInboxPrefix, agentPermissions, consumers, dnsSubjects, streams, subjects } from '@sluice/contracts';
import { ensurePullConsumer, ensureStreams, runPullConsumer } from '@sluice/nats';
import { startAuthNats, type AuthNats } from '@sluice/testing';
import {
  accountJwtWithRevocations,
  ClaimsUpdateError,
  createTrust,
  InvalidTrustError,
  issueAgentCreds,
  pushAccountJwt,
  readTrustFile,
  trustFromJson,
  trustToJson,
  writeTrustFile,
} from '../src/index.ts';

const logger = pino({ level: 'silent' });
const JS = '$JS.API';

/** Subscribes and resolves with the error the server closed the subscription with (or none within 2 s). */
async function subscribeError(nc: NatsConnection, subject: string): Promise<string> {
  const sub = nc.subscribe(subject);
  const closed = await Promise.race([sub.closed, sleep(2_000).then(() => 'still open')]);
  sub.unsubscribe();
  return closed instanceof Error ? closed.message : String(closed);
}

const errorsOf = new WeakMap<NatsConnection, string[]>();
/** Every error the server sent this client (permission violations arrive as status events). */
function watchErrors(nc: NatsConnection): NatsConnection {
  const seen: string[] = [];
  errorsOf.set(nc, seen);
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') seen.push(s.error.message);
  })();
  return nc;
}

/**
 * Publishes and resolves with the permission error the server sent back for it ('' if none): the
 * server answers a PUB before the PING of the flush, so once the flush resolves the error is in.
 */
async function publishError(nc: NatsConnection, subject: string): Promise<string> {
  nc.publish(subject, 'x');
  await nc.flush();
  await sleep(20);
  return errorsOf.get(nc)?.find((e) => e.includes(`Publish to "${subject}"`)) ?? '';
}

/** A request's rejection message (or the reply text when the server answered). */
async function requestOutcome(nc: NatsConnection, subject: string, body: unknown = {}): Promise<string> {
  try {
    return (await nc.request(subject, JSON.stringify(body), { timeout: 2_000 })).string();
  } catch (err) {
    return (err as Error).message;
  }
}

describe('trust', () => {
  it('round-trips through JSON and refuses a tampered file', async () => {
    const trust = await createTrust();
    const back = trustFromJson(trustToJson(trust));
    expect(back).toEqual(trust);
    const raw = JSON.parse(trustToJson(trust)) as Record<string, { seed: string; jwt: string }>;
    const other = await createTrust();
    expect(() => trustFromJson(JSON.stringify({ ...raw, account: { ...raw.account, jwt: other.account.jwt } }))).toThrow(/account\/jwt is not the account JWT/);
    expect(() => trustFromJson(JSON.stringify({ ...raw, system: { ...raw.system, seed: raw.operator!.seed } }))).toThrow(InvalidTrustError);
    expect(() => trustFromJson('{"v":1}')).toThrow(/operator must have/);
  });

  it('persists to a file only its owner can read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-trust-'));
    try {
      const trust = await createTrust();
      const path = join(dir, 'trust.json');
      await writeTrustFile(path, trust);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect(await readTrustFile(path)).toEqual(trust);
      // as Kubernetes mounts a Secret for a non-root pod (fsGroup): accepted
      await chmod(path, 0o440);
      expect(await readTrustFile(path)).toEqual(trust);
      await chmod(path, 0o644);
      await expect(readTrustFile(path)).rejects.toThrow(/lets others read or change the trust seeds/);
      await chmod(path, 0o660);
      await expect(readTrustFile(path)).rejects.toThrow(/lets others read or change the trust seeds/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('issues agent credentials in the standard .creds format', async () => {
    const trust = await createTrust();
    const { creds, userPublicKey } = await issueAgentCreds(trust, 'a1');
    expect(creds).toMatch(/^-----BEGIN NATS USER JWT-----\n[\w-]+\.[\w-]+\.[\w-]+\n------END NATS USER JWT------\n/);
    expect(creds).toMatch(/-----BEGIN USER NKEY SEED-----\nSU[A-Z2-7]+\n------END USER NKEY SEED------/);
    expect(userPublicKey).toMatch(/^U[A-Z2-7]{55}$/);
  });

  it('builds agent permissions from the contract subjects', () => {
    const p = agentPermissions('a1');
    expect(p.publish).toContain(subjects.agentHeartbeat('a1'));
    expect(p.publish).toContain(subjects.registryAgentRegister('a1'));
    expect(p.publish).toContain(dnsSubjects.agentAddress('a1'));
    expect(p.publish).toContain(`${JS}.CONSUMER.MSG.NEXT.${streams.data.name}.${consumers.agentData('a1')}`);
    // no consumer creation in any form: a push consumer's deliver_subject would bypass the allow-list
    expect(p.publish.some((s) => s.includes('CREATE') || s.includes('DELETE') || s === subjects.registryRegister)).toBe(false);
    expect(p.subscribe).toEqual([`${agentInboxPrefix('a1')}.>`, subjects.dataForAgent('core', 'a1'), subjects.edgeOfflineAll]);
    expect(() => agentPermissions('a.b')).toThrow(/not a valid id/);
  });
});

describe('per-agent credentials on nats-server', () => {
  let auth: AuthNats;
  let svc: NatsConnection;
  let a: NatsConnection;
  let b: NatsConnection;
  let aKey: string;
  let aCreds: string;

  beforeAll(async () => {
    auth = await startAuthNats();
    svc = await auth.connect(await auth.serviceCreds('test-service'));
    await ensureStreams(svc);
    const ac = await auth.agentCreds('A');
    aKey = ac.userPublicKey;
    aCreds = ac.creds;
    a = watchErrors(await auth.connect(ac.creds, { inboxPrefix: agentInboxPrefix('A') }));
    b = watchErrors(await auth.connect((await auth.agentCreds('B')).creds, { inboxPrefix: agentInboxPrefix('B') }));
  });
  afterAll(async () => {
    for (const nc of [svc, a, b]) await nc?.close();
    await auth?.stop();
  });

  it('gives services JetStream in the SLUICE account', async () => {
    const jsm = await jetstreamManager(svc);
    expect((await jsm.streams.info(streams.ctrl.name)).config.name).toBe(streams.ctrl.name);
    expect((await jsm.getAccountInfo()).streams).toBeGreaterThanOrEqual(2);
  });

  it('lets an agent do what the agent does, for itself', async () => {
    // core bytes: an edge's `up` reach A, A's `down` reach the edge
    const upSeen = new Promise<string>((r) => a.subscribe(subjects.dataForAgent('core', 'A'), { max: 1, callback: (_e, m) => r(m.subject) }));
    const downSeen = new Promise<string>((r) => svc.subscribe(subjects.dataForEdge('core', 'e1'), { max: 1, callback: (_e, m) => r(m.subject) }));
    await a.flush();
    await svc.flush();
    svc.publish(subjects.data('core', 'A', 'e1', 'c1', 'up'), 'x');
    a.publish(subjects.data('core', 'A', 'e1', 'c1', 'down'), 'y');
    expect(await upSeen).toBe(subjects.data('core', 'A', 'e1', 'c1', 'up'));
    expect(await downSeen).toBe(subjects.data('core', 'A', 'e1', 'c1', 'down'));
    // registration request/reply through its own inbox
    const registry = svc.subscribe(subjects.registryAgentRegisterAll, {
      callback: (_e, m) => {
        m.respond(`hello ${m.subject.split('.')[3]}`);
      },
    });
    await svc.flush();
    expect(await requestOutcome(a, subjects.registryAgentRegister('A'))).toBe('hello A');
    registry.unsubscribe();
    // its jetstream consumer, created by a service (the registry does it when A registers); A reads it
    for (const c of agentConsumers('A')) await ensurePullConsumer(svc, { stream: c.stream, durable: c.consumer, filterSubject: c.filter }, true);
    const got: string[] = [];
    const consumer = await runPullConsumer(
      a,
      { stream: streams.data.name, durable: consumers.agentData('A'), filterSubject: subjects.dataForAgent('jetstream', 'A'), createStreams: false, manage: false },
      (m) => got.push(m.subject),
      logger,
    );
    await sleep(200);
    svc.publish(subjects.data('jetstream', 'A', 'e1', 'c2', 'up'), 'z');
    await expect.poll(() => got, { timeout: 3_000 }).toEqual([subjects.data('jetstream', 'A', 'e1', 'c2', 'up')]);
    await consumer.stop();
    for (const p of [subjects.agentHeartbeat('A'), subjects.agentOffline('A'), dnsSubjects.agentAddress('A'), subjects.data('jetstream', 'A', 'e1', 'c2', 'down')]) {
      expect(await publishError(a, p), p).toBe('');
    }
  });

  it("refuses subscriptions to another agent's traffic and to shared inboxes", async () => {
    for (const subject of [subjects.dataForAgent('core', 'B'), subjects.data('core', 'B', 'e1', 'c1', 'up'), '_INBOX.>', `${agentInboxPrefix('B')}.>`, 'sluice.>', '>', subjects.connAssigned('B')]) {
      expect(await subscribeError(a, subject), subject).toMatch(/Permissions Violation for Subscription to/);
    }
  });

  it("refuses publishing on another agent's subjects", async () => {
    for (const subject of [
      subjects.data('core', 'B', 'e1', 'c1', 'down'),
      subjects.data('jetstream', 'B', 'e1', 'c1', 'down'),
      subjects.data('core', 'A', 'e1', 'c1', 'up'),
      subjects.agentHeartbeat('B'),
      subjects.agentOffline('B'),
      subjects.registryAgentRegister('B'),
      subjects.registryRegister,
      dnsSubjects.agentAddress('B'),
      subjects.connAssigned('B'),
      subjects.edgeOffline('e1'),
    ]) {
      expect(await publishError(a, subject), subject).toMatch(/Permissions Violation for Publish to/);
    }
  });

  it('refuses every JetStream consumer creation, even of its own consumer (a push deliver_subject would bypass its publish permissions)', async () => {
    const bFilter = subjects.dataForAgent('jetstream', 'B');
    const bName = consumers.agentData('B');
    const body = (name: string, filter: string) => ({ stream_name: streams.data.name, config: { durable_name: name, filter_subject: filter, ack_policy: AckPolicy.None } });
    const denied = /Permissions Violation for Publish to "\$JS\.API\./;
    // filtered create with B's name and filter, or A's name and B's filter
    expect(await requestOutcome(a, `${JS}.CONSUMER.CREATE.${streams.data.name}.${bName}.${bFilter}`, body(bName, bFilter))).toMatch(denied);
    expect(await requestOutcome(a, `${JS}.CONSUMER.CREATE.${streams.data.name}.${consumers.agentData('A')}.${bFilter}`, body(consumers.agentData('A'), bFilter))).toMatch(denied);
    // the legacy and unfiltered forms, which carry the filter only in the body
    expect(await requestOutcome(a, `${JS}.CONSUMER.DURABLE.CREATE.${streams.data.name}.${consumers.agentData('A')}`, body(consumers.agentData('A'), bFilter))).toMatch(denied);
    expect(await requestOutcome(a, `${JS}.CONSUMER.CREATE.${streams.data.name}.${consumers.agentData('A')}`, body(consumers.agentData('A'), bFilter))).toMatch(denied);
    expect(await requestOutcome(a, `${JS}.CONSUMER.CREATE.${streams.data.name}`, body(consumers.agentData('A'), bFilter))).toMatch(denied);
    // its own consumer name and filter: refused too (the registry creates it), so no push consumer
    // with a deliver_subject on B's subjects can exist
    const own = `${JS}.CONSUMER.CREATE.${streams.data.name}.${consumers.agentData('A')}.${subjects.dataForAgent('jetstream', 'A')}`;
    expect(await requestOutcome(a, own, { ...body(consumers.agentData('A'), subjects.dataForAgent('jetstream', 'A')), config: { ...body(consumers.agentData('A'), subjects.dataForAgent('jetstream', 'A')).config, deliver_subject: subjects.data('core', 'B', 'e1', 'c1', 'up') } })).toMatch(denied);
    expect(await requestOutcome(a, `${JS}.CONSUMER.DELETE.${streams.data.name}.${consumers.agentData('A')}`)).toMatch(denied);
    // nor may an agent create or delete streams
    expect(await requestOutcome(a, `${JS}.STREAM.CREATE.EVIL`, { name: 'EVIL', subjects: ['sluice.>'] })).toMatch(denied);
    expect(await requestOutcome(a, `${JS}.STREAM.DELETE.${streams.data.name}`)).toMatch(denied);
  });

  it("refuses reading another agent's consumer", async () => {
    const jsm = await jetstreamManager(svc);
    await jsm.consumers.add(streams.data.name, { durable_name: consumers.agentData('B'), filter_subject: subjects.dataForAgent('jetstream', 'B'), ack_policy: AckPolicy.None });
    svc.publish(subjects.data('jetstream', 'B', 'e1', 'c1', 'up'), 'secret');
    await svc.flush();
    const denied = /Permissions Violation for Publish to "\$JS\.API\.CONSUMER\./;
    expect(await requestOutcome(a, `${JS}.CONSUMER.MSG.NEXT.${streams.data.name}.${consumers.agentData('B')}`, { batch: 1, expires: 500_000_000 })).toMatch(denied);
    expect(await requestOutcome(a, `${JS}.CONSUMER.INFO.${streams.data.name}.${consumers.agentData('B')}`)).toMatch(denied);
    expect(await requestOutcome(a, `${JS}.CONSUMER.DELETE.${streams.data.name}.${consumers.agentData('B')}`)).toMatch(denied);
    // B itself still reads it (noMux: the request mux matches replies by subject, and a pulled
    // message arrives with its stream subject, so only a dedicated inbox sees it)
    const next = await b.request(`${JS}.CONSUMER.MSG.NEXT.${streams.data.name}.${consumers.agentData('B')}`, JSON.stringify({ batch: 1, expires: 1_000_000_000 }), { timeout: 2_000, noMux: true });
    expect(next.string()).toBe('secret');
  });

  it('reports an account update the server refuses', async () => {
    const sys = await auth.connect(await auth.systemCreds());
    try {
      await expect(pushAccountJwt(sys, 'not-a-jwt')).rejects.toThrow(ClaimsUpdateError);
      await expect(pushAccountJwt(sys, 'not-a-jwt')).rejects.toThrow(/account update refused: jwt update resulted in error/);
      // an unchanged account JWT is accepted (idempotent)
      await pushAccountJwt(sys, await accountJwtWithRevocations(auth.trust, {}));
    } finally {
      await sys.close();
    }
    // only the system account may update accounts
    await expect(pushAccountJwt(svc, await accountJwtWithRevocations(auth.trust, {}), { timeoutMs: 1_000 })).rejects.toThrow(ClaimsUpdateError);
  });

  it('disconnects a revoked agent, refuses its reconnects, and keeps the revocation across a server restart', async () => {
    const closed = a.closed();
    const t0 = Date.now();
    await auth.revoke(aKey);
    const err = await Promise.race([closed, sleep(5_000).then(() => 'still connected')]);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(String(err)).toMatch(/revoked|Authorization Violation/i);
    await expect(auth.connect(aCreds)).rejects.toBeInstanceOf(AuthorizationError);
    // B was not revoked
    expect(await publishError(b, subjects.agentHeartbeat('B'))).toBe('');

    await auth.nats.restart();
    await expect(auth.connect(aCreds)).rejects.toBeInstanceOf(AuthorizationError);
    // revocation is per user key: new credentials for the same agent work at once
    const again = watchErrors(await auth.connect((await auth.agentCreds('A')).creds, { inboxPrefix: agentInboxPrefix('A') }));
    expect(await publishError(again, subjects.agentHeartbeat('A'))).toBe('');
    await again.close();
  });
});

describe('revocations issued right after the trust', () => {
  it('survive a server restart (the preloaded original JWT must not win a same-second tie)', async () => {
    const auth = await startAuthNats();
    try {
      const c = await auth.agentCreds('early');
      // at once: without care, in the second the account JWT was made
      await auth.revoke(c.userPublicKey);
      await expect(auth.connect(c.creds)).rejects.toBeInstanceOf(AuthorizationError);
      await auth.nats.restart();
      await expect(auth.connect(c.creds)).rejects.toBeInstanceOf(AuthorizationError);
    } finally {
      await auth.stop();
    }
  });
});
