import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startAuthNats, startTestDns, type AuthNats, type TestDns } from '@sluice/testing';
import { agentInboxPrefix, codecs, subjects } from '@sluice/contracts';
import { createRegistry, parseRegistryConfig, type Registry } from '../src/index.ts';
import { restClient } from './support/rest.ts';

/**
 * The registry issues each agent NATS credentials limited to its own subjects, and revoking them
 * (deleting or rotating the agent) disconnects it and keeps it out. Real nats-server in operator
 * mode (NATS JWT auth, full resolver), real REST API.
 */
describe('per-agent NATS credentials issued and revoked by the registry', () => {
  let auth: AuthNats;
  let nc: NatsConnection;
  let sysNc: NatsConnection;
  let dns: TestDns;
  let registry: Registry;
  let base: string;
  let token: string;

  const rest = restClient(() => base);
  const api = (method: string, path: string, body?: unknown) => rest(method, path, token, body);

  const register = async (c: NatsConnection, agentId: string) => {
    const m = await c.request(subjects.registryAgentRegister(agentId), codecs.registerRequest.encode({ v: 1, transport: 'core', hostnames: [], generate: true }), { timeout: 5000 });
    return codecs.registerReply.decode(m.data);
  };

  const closed = (c: NatsConnection, withinMs: number): Promise<boolean> =>
    Promise.race([c.closed().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), withinMs))]);

  beforeAll(async () => {
    auth = await startAuthNats();
    nc = await auth.connect(await auth.serviceCreds('registry'));
    sysNc = await auth.connect(await auth.systemCreds());
    dns = await startTestDns();
    registry = createRegistry(parseRegistryConfig(JSON.stringify({ zone: 'sluice.test', region: 'eu', dnsServers: [dns.server], api: { port: 0 } })), {
      nc,
      logger: pino({ level: 'silent' }),
      natsAuth: { trust: auth.trust, sysNc },
    });
    await registry.start();
    base = `http://127.0.0.1:${registry.apiPort}`;
    token = registry.bootstrapToken!;
  });

  afterAll(async () => {
    await registry?.stop();
    await nc?.close();
    await sysNc?.close();
    await dns?.stop();
    await auth?.stop();
  });

  it('an agent connects with its own credentials and registers on its own subject only', async () => {
    const a = (await api('POST', '/v1/agents', { name: 'alpha' })).json;
    const b = (await api('POST', '/v1/agents', { name: 'beta' })).json;
    expect(a.credentials.natsCreds).toContain('BEGIN NATS USER JWT');
    const ca = await auth.connect(a.credentials.natsCreds, { inboxPrefix: agentInboxPrefix(a.credentials.agentId) });
    try {
      const reply = await register(ca, a.credentials.agentId);
      expect(reply).toMatchObject({ ok: true, agentId: a.credentials.agentId, accepted: ['alpha.admin.eu.sluice.test'] });
      // registering as beta: the server refuses the publish, so the registry never hears it
      const errors: string[] = [];
      void (async () => {
        for await (const s of ca.status()) if (s.type === 'error') errors.push(s.error.message);
      })();
      await expect(register(ca, b.credentials.agentId)).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 200));
      expect(errors.join(' ')).toMatch(/permissions violation/i);
      // with NATS credentials, the secret alone is not enough: it must come over the agent's own connection
      const m = await nc.request(subjects.registryRegister, codecs.registerRequest.encode({ v: 1, token: b.credentials.token, transport: 'core', hostnames: [], generate: true }), { timeout: 5000 });
      expect(codecs.registerReply.decode(m.data).error?.message).toMatch(/own subject/);
    } finally {
      await ca.close();
    }
  });

  it('deleting an agent revokes its credentials: connected → disconnected, and it cannot reconnect', async () => {
    const g = (await api('POST', '/v1/agents', { name: 'gamma' })).json;
    const c = await auth.connect(g.credentials.natsCreds, { inboxPrefix: agentInboxPrefix(g.credentials.agentId) });
    expect((await register(c, g.credentials.agentId)).ok).toBe(true);
    const t0 = Date.now();
    expect((await api('DELETE', '/v1/agents/gamma')).status).toBe(204);
    expect(await closed(c, 5_000)).toBe(true);
    process.stderr.write(`revoked agent disconnected ${Date.now() - t0} ms after DELETE\n`);
    await expect(auth.connect(g.credentials.natsCreds, { inboxPrefix: agentInboxPrefix(g.credentials.agentId) })).rejects.toThrow(/authoriz/i);
  });

  it('rotating credentials locks out the old ones and lets the new ones in; a restarted registry keeps the revocations', async () => {
    const d = (await api('POST', '/v1/agents', { name: 'delta' })).json;
    const rotated = await api('POST', '/v1/agents/delta/credentials');
    expect(rotated.status).toBe(201);
    await expect(auth.connect(d.credentials.natsCreds)).rejects.toThrow(/authoriz/i);
    const fresh = await auth.connect(rotated.json.credentials.natsCreds, { inboxPrefix: agentInboxPrefix(d.credentials.agentId) });
    expect((await register(fresh, d.credentials.agentId)).ok).toBe(true);
    await fresh.close();
    // the server restarts from its resolver dir, the registry pushes the account JWT again on start
    await registry.stop();
    await nc.close();
    await sysNc.close();
    await auth.nats.restart();
    nc = await auth.connect(await auth.serviceCreds('registry'));
    sysNc = await auth.connect(await auth.systemCreds());
    registry = createRegistry(parseRegistryConfig(JSON.stringify({ zone: 'sluice.test', region: 'eu', dnsServers: [dns.server], api: { port: 0 } })), {
      nc,
      logger: pino({ level: 'silent' }),
      natsAuth: { trust: auth.trust, sysNc },
    });
    await registry.start();
    await expect(auth.connect(d.credentials.natsCreds)).rejects.toThrow(/authoriz/i);
  });
});
