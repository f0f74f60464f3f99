import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import fc from 'fast-check';
import { startNats, startTestDns, type NatsServerHandle, type TestDns } from '@sluice/testing';
import { codecs, subjects } from '@sluice/contracts';
import { openRoutesBucket } from '@sluice/nats';
import { createRegistry, parseRegistryConfig, type Registry } from '../src/index.ts';
import { claimHost, openRegistryBucket, Store } from '../src/store.ts';
import { restClient } from './support/rest.ts';

const logger = pino({ level: process.env.SLUICE_TEST_LOG_LEVEL ?? 'silent' });
const ZONE = 'sluice.test';

let nats: NatsServerHandle;
let nc: NatsConnection;
let dns: TestDns;
let registry: Registry;
let base: string;
let admin: string;

const config = (extra: Record<string, unknown> = {}) =>
  parseRegistryConfig(JSON.stringify({ zone: ZONE, region: 'eu', dnsServers: [dns.server], api: { port: 0, authFailuresPerMinute: 30, verificationsPerMinute: 50 }, ...extra }), 'test');

async function startRegistry(extra: Record<string, unknown> = {}): Promise<Registry> {
  const r = createRegistry(config(extra), { nc, logger });
  await r.start();
  base = `http://127.0.0.1:${r.apiPort}`;
  return r;
}

const api = restClient(() => base);

async function newUser(name: string): Promise<string> {
  const r = await api('POST', '/v1/users', admin, { name });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json.token as string;
}

async function registerOverNats(token: string, hostnames: string[]) {
  const m = await nc.request(subjects.registryRegister, codecs.registerRequest.encode({ v: 1, token, transport: 'core', hostnames, generate: true }), { timeout: 5000 });
  return codecs.registerReply.decode(m.data);
}

async function routeKeys(agentId: string): Promise<string[]> {
  const kv = await openRoutesBucket(nc);
  const out: string[] = [];
  for await (const k of await kv.keys(`${agentId}.>`)) out.push(k);
  return out.sort();
}

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  dns = await startTestDns();
  registry = await startRegistry();
  admin = registry.bootstrapToken!;
});

afterAll(async () => {
  await registry?.stop();
  await nc?.drain();
  await dns?.stop();
  await nats?.stop();
});

describe('registry REST API', () => {
  it('bootstraps an admin once and serves its OpenAPI document and docs', async () => {
    expect(admin).toMatch(/^slt_[a-z0-9]+_/);
    expect((await api('GET', '/v1/me', admin)).json).toEqual({ name: 'admin', admin: true });
    const doc = await api('GET', '/openapi.json', undefined);
    expect(doc.status).toBe(200);
    expect(doc.json.openapi).toBe('3.0.3');
    for (const p of ['/v1/agents', '/v1/agents/{name}', '/v1/domains', '/v1/domains/{domain}/verify', '/v1/tokens', '/v1/users', '/v1/hostnames']) expect(Object.keys(doc.json.paths)).toContain(p);
    const docs = await fetch(`${base}/docs/`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger');
  });

  it('creates an agent with its tunnel and DDNS addresses and shows credentials only once', async () => {
    const alice = await newUser('alice');
    const r = await api('POST', '/v1/agents', alice, { name: 'mycluster', region: 'eu' });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ name: 'mycluster', hostname: `mycluster.alice.eu.${ZONE}`, ddnsHostname: `mycluster.alice.eu.dyn.${ZONE}` });
    expect(r.json.credentials.token).toMatch(/^sla_/);
    const got = await api('GET', '/v1/agents/mycluster', alice);
    expect(got.status).toBe(200);
    expect(JSON.stringify(got.json)).not.toContain(r.json.credentials.token);
    expect(got.json.credentials).toBeUndefined();
    // another user cannot see it
    const bob = await newUser('bob');
    expect((await api('GET', '/v1/agents/mycluster', bob)).status).toBe(404);
    expect((await api('GET', '/v1/agents', bob)).json).toEqual([]);
  });

  it('stores API tokens and agent secrets only as hashes', async () => {
    const carol = await newUser('carol');
    const agent = (await api('POST', '/v1/agents', carol, { name: 'box' })).json;
    const kv = await openRegistryBucket(nc);
    const secrets = [carol, admin, agent.credentials.token].map((t: string) => t.split('_').slice(2).join('_'));
    for await (const k of await kv.keys()) {
      const e = await kv.get(k);
      const text = e ? new TextDecoder().decode(e.value) : '';
      for (const s of secrets) expect(text, k).not.toContain(s);
    }
  });

  it('rejects malformed JSON, wrong types, unknown fields, oversized bodies and bad tokens with precise 4xx', async () => {
    const dave = await newUser('dave');
    const bad = await api('POST', '/v1/agents', dave, undefined, '{"name": ');
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toMatch(/JSON/i);
    const types = await api('POST', '/v1/agents', dave, { name: 42 });
    expect(types.status).toBe(400);
    expect(types.json.error.message).toMatch(/name/);
    const unknown = await api('POST', '/v1/agents', dave, { name: 'ok', colour: 'red' });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.message).toMatch(/additional/i);
    const pattern = await api('POST', '/v1/agents', dave, { name: 'Bad Name!' });
    expect(pattern.status).toBe(400);
    const big = await api('POST', '/v1/domains', dave, { domain: 'x'.repeat(100_000) });
    expect(big.status).toBe(413);
    expect((await api('GET', '/v1/agents', 'slt_nope_AAAAAAAAAAAAAAAAAAAAAAAA')).status).toBe(401);
    expect((await api('GET', '/v1/agents', undefined)).json.error.message).toMatch(/Authorization/);
    expect((await api('POST', '/v1/users', dave, { name: 'eve' })).status).toBe(403);
    expect((await api('GET', '/v1/nothing', dave)).status).toBe(404);
    // random bodies and paths never produce a 5xx
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.json(), fc.string({ maxLength: 200 })), fc.constantFrom('/v1/agents', '/v1/domains', '/v1/tokens', '/v1/users'), async (body, path) => {
        const r = await api('POST', path, admin, undefined, body);
        if (r.status >= 500) console.error(path, JSON.stringify(body), r.status, r.json);
        return r.status >= 200 && r.status < 500;
      }),
      { numRuns: 60 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 80 }), async (seg) => {
        const r = await api('GET', `/v1/domains/${encodeURIComponent(seg)}`, dave);
        return r.status >= 400 && r.status < 500;
      }),
      { numRuns: 60 },
    );
  });

  it('a domain routes only after a real DNS check proves control, only for its owner, and stops when the proof goes', async () => {
    const frank = await newUser('frank');
    const agent = (await api('POST', '/v1/agents', frank, { name: 'home' })).json;
    const added = await api('POST', '/v1/domains', frank, { domain: 'Home.Example.com.' });
    expect(added.status).toBe(201);
    expect(added.json).toMatchObject({ domain: 'home.example.com', state: 'pending', record: { type: 'TXT', name: '_sluice-challenge.home.example.com' } });
    const token = added.json.record.value as string;

    // before verification: the claim is refused with a reason the agent and `agents status` see
    let reply = await registerOverNats(agent.credentials.token, ['home.example.com', '*.home.example.com']);
    expect(reply.ok).toBe(true);
    expect(reply.accepted).toEqual([`home.frank.eu.${ZONE}`]);
    expect(reply.refused.map((r) => r.hostname)).toEqual(['home.example.com', '*.home.example.com']);
    expect(reply.refused[0]!.reason).toMatch(/not verified/);
    const status = await api('GET', '/v1/agents/home', frank);
    expect(status.json.refused[0].reason).toMatch(/home\.example\.com is not verified/);
    expect(await routeKeys(agent.credentials.agentId)).toEqual([`${agent.credentials.agentId}.home.frank.eu.${ZONE}`]);

    // verify without the record: still pending, and says what is missing
    let v = await api('POST', '/v1/domains/home.example.com/verify', frank);
    expect(v.status).toBe(200);
    expect(v.json.state).toBe('pending');
    expect(v.json.missing.join(' ')).toContain('_sluice-challenge.home.example.com');

    dns.set({ type: 'TXT', name: '_sluice-challenge.home.example.com', value: token });
    v = await api('POST', '/v1/domains/home.example.com/verify', frank);
    expect(v.json).toMatchObject({ state: 'verified', method: 'txt', missing: [] });
    // verification re-decided the agent's claims: now routed
    expect(await routeKeys(agent.credentials.agentId)).toEqual(
      [`home.example.com`, `_w_.home.example.com`, `home.frank.eu.${ZONE}`].map((h) => `${agent.credentials.agentId}.${h}`).sort(),
    );
    expect((await api('GET', '/v1/domains', frank)).json[0].state).toBe('verified');

    // another user cannot claim it, even with their own (valid) proof
    const gina = await newUser('gina');
    const gAgent = (await api('POST', '/v1/agents', gina, { name: 'g' })).json;
    const gDomain = (await api('POST', '/v1/domains', gina, { domain: 'home.example.com' })).json;
    dns.set({ type: 'TXT', name: '_sluice-challenge.home.example.com', value: gDomain.record.value });
    const gv = await api('POST', '/v1/domains/home.example.com/verify', gina);
    expect(gv.json.state).toBe('pending');
    expect(gv.json.missing.join(' ')).toMatch(/belongs to another user/);
    reply = await registerOverNats(gAgent.credentials.token, ['www.home.example.com']);
    expect(reply.refused[0]!.hostname).toBe('www.home.example.com');
    expect(await routeKeys(gAgent.credentials.agentId)).toEqual([`${gAgent.credentials.agentId}.g.gina.eu.${ZONE}`]);

    // the proof disappears: the periodic re-check unroutes it (no dangling-record takeover)
    dns.remove('_sluice-challenge.home.example.com');
    await registry.core!.recheckDomains();
    const after = await api('GET', '/v1/domains/home.example.com', frank);
    expect(after.json.state).toBe('pending');
    expect(await routeKeys(agent.credentials.agentId)).toEqual([`${agent.credentials.agentId}.home.frank.eu.${ZONE}`]);
  });

  it('accepts a CNAME to one of the user\'s agent addresses as proof', async () => {
    const hank = await newUser('hank');
    await api('POST', '/v1/agents', hank, { name: 'nas', region: 'eu' });
    const d = (await api('POST', '/v1/domains', hank, { domain: 'nas.example.org' })).json;
    expect(d.alternatives).toContainEqual({ type: 'CNAME', name: 'nas.example.org', value: `nas.hank.eu.dyn.${ZONE}` });
    dns.set({ type: 'CNAME', name: 'nas.example.org', value: `nas.hank.eu.dyn.${ZONE}` });
    const v = await api('POST', '/v1/domains/nas.example.org/verify', hank);
    expect(v.json).toMatchObject({ state: 'verified', method: 'cname' });
  });

  it('of 50 simultaneous claims of one free name exactly one wins (atomic create)', async () => {
    const ivan = await newUser('ivan');
    const results = await Promise.all(Array.from({ length: 50 }, () => api('POST', '/v1/agents', ivan, { name: 'race' })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(49);
    // and 50 different users on 50 connections racing for one hostname
    const conns = await Promise.all(Array.from({ length: 50 }, () => connect({ servers: nats.url })));
    const won = await Promise.all(conns.map(async (c, i) => claimHost(new Store(await openRegistryBucket(c)), 'contested.example.net', `user${i}`, 'domain', 86_400_000)));
    expect(won.filter((w) => w.ok)).toHaveLength(1);
    await Promise.all(conns.map((c) => c.close()));
  });

  it('holds a released hostname back from other users', async () => {
    const store = new Store(await openRegistryBucket(nc));
    expect((await claimHost(store, 'held.example.net', 'olduser', 'domain', 86_400_000)).ok).toBe(true);
    const { releaseHost } = await import('../src/store.ts');
    await releaseHost(store, 'held.example.net', 'olduser');
    const other = await claimHost(store, 'held.example.net', 'newuser', 'domain', 86_400_000);
    expect(other).toMatchObject({ ok: false });
    expect((other as { reason: string }).reason).toMatch(/held back until/);
    expect((await claimHost(store, 'held.example.net', 'olduser', 'domain', 86_400_000)).ok).toBe(true); // its owner may take it back
    await releaseHost(store, 'held.example.net', 'olduser');
    expect((await claimHost(store, 'held.example.net', 'newuser', 'domain', 86_400_000, Date.now() + 86_400_001)).ok).toBe(true);
  });

  it('deleting an agent stops its routes and its token', async () => {
    const jack = await newUser('jack');
    const agent = (await api('POST', '/v1/agents', jack, { name: 'gone' })).json;
    expect((await registerOverNats(agent.credentials.token, [])).ok).toBe(true);
    expect(await routeKeys(agent.credentials.agentId)).toHaveLength(1);
    expect((await api('DELETE', '/v1/agents/gone', jack)).status).toBe(204);
    expect(await routeKeys(agent.credentials.agentId)).toEqual([]);
    const again = await registerOverNats(agent.credentials.token, []);
    expect(again.ok).toBe(false);
    expect(again.error?.message).toMatch(/unknown or revoked/);
  });

  it('loses nothing across a registry and nats-server restart', async () => {
    const before = (await api('GET', '/v1/agents', admin)).status;
    expect(before).toBe(200);
    const frankAgentsBefore = (await registry.core!.listAgents()).length;
    await registry.stop();
    await nc.close();
    await nats.restart();
    nc = await connect({ servers: nats.url });
    registry = await startRegistry();
    expect(registry.bootstrapToken).toBeUndefined();
    expect((await api('GET', '/v1/me', admin)).json.name).toBe('admin');
    expect((await registry.core!.listAgents()).length).toBe(frankAgentsBefore);
    expect((await api('GET', '/v1/users', admin)).json.map((u: { name: string }) => u.name)).toEqual(expect.arrayContaining(['alice', 'frank', 'hank']));
  });
  it('limits failed authentications and verifications', async () => {
    const kate = await newUser('kate');
    await api('POST', '/v1/domains', kate, { domain: 'limited.example.com' });
    const statuses: number[] = [];
    for (let i = 0; i < 55; i++) statuses.push((await api('POST', '/v1/domains/limited.example.com/verify', kate)).status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 200).length).toBe(50);
    const fails: number[] = [];
    for (let i = 0; i < 35; i++) fails.push((await api('GET', '/v1/me', `slt_guess${i}_AAAAAAAAAAAAAAAAAAAAAAAAAAAA`)).status);
    expect(fails.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(fails.at(-1)).toBe(429);
  });

});
