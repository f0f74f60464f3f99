// What the dashboard shows of each agent beyond its record: heartbeat figures (version, connected
// since, open connections, last-minute bytes), the public address it reports for dynamic DNS, and
// where each of its claims came from (config, cli, or an Ingress). One user never sees another's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { pino } from 'pino';
import { startNats, startTestDns, type NatsServerHandle, type TestDns } from '@sluice/testing';
import { codecs, dnsCodecs, dnsStream, dnsSubjects, MAX_AGENT_HOSTNAMES, subjects, type AgentHeartbeat, type RegisterRequest } from '@sluice/contracts';
import { AGENT_VERSION, createAgent, groupClaimSources, parseAgentConfig, RollingBytes, type ClaimSource } from '@sluice/agent';
import { createRegistry, parseRegistryConfig, type Registry } from '../src/index.ts';
import { recordCodecs, type AgentRecord } from '../src/records.ts';
import { restClient } from './support/rest.ts';

const logger = pino({ level: process.env.SLUICE_TEST_LOG_LEVEL ?? 'silent' });
const ZONE = 'sluice.test';

let nats: NatsServerHandle;
let nc: NatsConnection;
let dns: TestDns;
let registry: Registry;
let base: string;

const api = restClient(() => base);

async function newUser(name: string): Promise<string> {
  const r = await api('POST', '/v1/users', registry.bootstrapToken!, { name });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json.token as string;
}

async function newAgent(user: string, name: string): Promise<{ agentId: string; token: string }> {
  const r = await api('POST', '/v1/agents', user, { name });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return { agentId: r.json.credentials.agentId, token: r.json.credentials.token };
}

async function register(req: Omit<RegisterRequest, 'v' | 'transport'>) {
  const m = await nc.request(subjects.registryRegister, codecs.registerRequest.encode({ v: 1, transport: 'core', ...req }), { timeout: 10_000 });
  return codecs.registerReply.decode(m.data);
}

const heartbeat = (hb: Omit<AgentHeartbeat, 'v' | 'transport' | 'draining'>, subjectAgent = hb.agentId): void =>
  nc.publish(subjects.agentHeartbeat(subjectAgent), codecs.agentHeartbeat.encode({ v: 1, transport: 'core', draining: false, ...hb }));

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  dns = await startTestDns();
  registry = createRegistry(parseRegistryConfig(JSON.stringify({ zone: ZONE, region: 'eu', dnsServers: [dns.server], api: { port: 0, requestsPerMinute: 100_000 } }), 'test'), { nc, logger });
  await registry.start();
  base = `http://127.0.0.1:${registry.apiPort}`;
});

afterAll(async () => {
  await registry?.stop();
  await nc?.drain();
  await dns?.stop();
  await nats?.stop();
});

describe("an agent's status and claims in the REST API", () => {
  let alice: string;
  let bob: string;
  let web: { agentId: string; token: string };
  let b1: { agentId: string; token: string };

  beforeAll(async () => {
    alice = await newUser('alice');
    bob = await newUser('bob');
    web = await newAgent(alice, 'web');
    b1 = await newAgent(bob, 'b1');
  });

  it('shows the figures of the heartbeats and the reported public address', async () => {
    const before = Date.now();
    heartbeat({ agentId: web.agentId, instanceId: 'i1', version: 'sluice-agent/9.8.7', connectedMs: 180_000, activeConnections: 3, bytesInLastMinute: 1536, bytesOutLastMinute: 5 * 1024 * 1024 });
    nc.publish(dnsSubjects.agentAddress(web.agentId), dnsCodecs.agentAddress.encode({ v: 1, agentId: web.agentId, ipv4: '203.0.113.7', source: 'nats', ts: Date.now() }));
    const a = await until('the heartbeat', async () => {
      const r = await api('GET', '/v1/agents/web', alice);
      return r.json.online && r.json.publicAddress ? r.json : undefined;
    });
    expect(a).toMatchObject({
      online: true, instances: 1, version: 'sluice-agent/9.8.7', activeConnections: 3, bytesInLastMinute: 1536, bytesOutLastMinute: 5 * 1024 * 1024,
      publicAddress: { ipv4: '203.0.113.7', source: 'nats' },
    });
    const since = Date.parse(a.connectedSince);
    expect(since).toBeGreaterThanOrEqual(before - 180_000 - 1000);
    expect(since).toBeLessThanOrEqual(Date.now() - 180_000 + 1000);
    // a second replica: its figures add up, the earliest connection counts
    heartbeat({ agentId: web.agentId, instanceId: 'i2', version: 'sluice-agent/9.8.7', connectedMs: 1_000, activeConnections: 2, bytesInLastMinute: 512, bytesOutLastMinute: 0 });
    const both = await until('the second instance', async () => ((await api('GET', '/v1/agents', alice)).json.find((x: any) => x.instances === 2)));
    expect(both).toMatchObject({ activeConnections: 5, bytesInLastMinute: 2048, connectedSince: a.connectedSince });
    // it stops: gone at once (not after the heartbeat timeout), a late heartbeat does not bring it back
    nc.publish(subjects.agentOffline(web.agentId), codecs.agentOffline.encode({ v: 1, agentId: web.agentId, instanceId: 'i2', reason: 'stopped' }));
    heartbeat({ agentId: web.agentId, instanceId: 'i2', version: 'sluice-agent/9.8.7', connectedMs: 1_100, activeConnections: 9 });
    await until('one instance', async () => ((await api('GET', '/v1/agents/web', alice)).json.instances === 1 ? true : undefined));
    heartbeat({ agentId: web.agentId, instanceId: 'i1', version: 'sluice-agent/9.8.7', connectedMs: 180_300, activeConnections: 3 });
    await new Promise((r) => setTimeout(r, 200));
    expect((await api('GET', '/v1/agents/web', alice)).json).toMatchObject({ instances: 1, activeConnections: 3 });
  });

  it("never shows one user another user's agents' data, and ignores a heartbeat naming another agent", async () => {
    // bob's agent's subject, alice's agent's id: an agent publishes only on its own subject, so this is a forgery
    heartbeat({ agentId: web.agentId, instanceId: 'forged', version: 'forged/1', activeConnections: 999 }, b1.agentId);
    nc.publish(subjects.agentHeartbeat(b1.agentId), new TextEncoder().encode('{"v":1,"not":"a heartbeat"}'));
    nc.publish(dnsSubjects.agentAddress(b1.agentId), dnsCodecs.agentAddress.encode({ v: 1, agentId: web.agentId, ipv4: '198.51.100.66', source: 'nats', ts: Date.now() }));
    await new Promise((r) => setTimeout(r, 300));
    const mine = (await api('GET', '/v1/agents/web', alice)).json;
    expect(mine.version).toBe('sluice-agent/9.8.7');
    expect(mine.activeConnections).not.toBe(999);
    expect(mine.publicAddress.ipv4).toBe('203.0.113.7');

    const bobs = await api('GET', '/v1/agents', bob);
    expect(bobs.json.map((a: { name: string }) => a.name)).toEqual(['b1']);
    expect(bobs.json[0].online).toBe(false);
    expect(bobs.json[0].version).toBeUndefined();
    const text = JSON.stringify(bobs.json) + JSON.stringify((await api('GET', '/v1/hostnames', bob)).json);
    for (const secret of ['alice', '203.0.113.7', '9.8.7', web.agentId]) expect(text).not.toContain(secret);
    expect((await api('GET', '/v1/agents/web', bob)).status).toBe(404);
  });

  it('keeps where each claim came from: config, cli (the generated name) and Ingresses by namespace/name', async () => {
    const tunnel = `web.alice.eu.${ZONE}`;
    const hostnames = [`app.${tunnel}`, `shop.${tunnel}`, `api.${tunnel}`, 'not-mine.example.org'];
    const reply = await register({
      token: web.token, hostnames, generate: true,
      sources: { config: [0, 3], ingress: { 'shop/storefront': [1], 'shop/storefront-api': [1, 2] } },
    });
    expect(reply.ok).toBe(true);
    expect(reply.refused.map((r) => r.hostname)).toEqual(['not-mine.example.org']);
    const a = (await api('GET', '/v1/agents/web', alice)).json;
    const of = (h: string) => a.sources.filter((s: any) => s.hostname === h).map((s: any) => (s.kind === 'ingress' ? `${s.namespace}/${s.name}` : s.kind));
    expect(of(tunnel)).toEqual(['cli']);
    expect(of(`app.${tunnel}`)).toEqual(['config']);
    expect(of(`shop.${tunnel}`)).toEqual(['shop/storefront', 'shop/storefront-api']);
    expect(of(`api.${tunnel}`)).toEqual(['shop/storefront-api']);
    expect(of('not-mine.example.org')).toEqual(['config']);
    expect(a.refused[0].reason).toMatch(/not owned/);
    const rows = (await api('GET', '/v1/hostnames', alice)).json;
    expect(rows.find((r: any) => r.hostname === `api.${tunnel}`)).toMatchObject({ state: 'routed', sources: [{ kind: 'ingress', namespace: 'shop', name: 'storefront-api' }] });
    expect(rows.find((r: any) => r.hostname === 'not-mine.example.org')).toMatchObject({ state: 'refused', sources: [{ kind: 'config' }] });

    // a domain verified later re-decides the claims: the sources stay with their names
    const domain = await api('POST', '/v1/domains', alice, { domain: 'example.org' });
    dns.set({ type: 'TXT', name: '_sluice-challenge.example.org', value: domain.json.record.value });
    expect((await api('POST', '/v1/domains/example.org/verify', alice)).json.state).toBe('verified');
    const after = (await api('GET', '/v1/agents/web', alice)).json;
    expect(after.accepted).toContain('not-mine.example.org');
    expect(after.sources.filter((s: any) => s.hostname === 'not-mine.example.org')).toEqual([{ hostname: 'not-mine.example.org', kind: 'config' }]);
    expect(after.sources.filter((s: any) => s.hostname === `shop.${tunnel}`)).toHaveLength(2);

    // an older agent sends no sources: none are known (the generated name is still the command line's)
    await register({ token: web.token, hostnames: [`app.${tunnel}`], generate: true });
    expect((await api('GET', '/v1/agents/web', alice)).json.sources).toEqual([{ hostname: tunnel, kind: 'cli' }]);
  });

  it('refuses sources that name a position past the hostnames, or a malformed Ingress, saying where', async () => {
    const past = await register({ token: web.token, hostnames: ['a.example.org'], generate: false, sources: { config: [0, 1] } });
    expect(past.ok).toBe(false);
    expect(past.error).toMatchObject({ code: 'SLUICE_INVALID_MESSAGE' });
    expect(past.error!.message).toMatch(/\/sources\/config: position 1 is past the 1 hostnames/);
    const bad = await register({ token: web.token, hostnames: ['a.example.org'], generate: false, sources: { ingress: { 'Not_A_Namespace/x': [0] } } });
    expect(bad.error!.message).toMatch(/RegisterRequest: \/sources\/ingress/);
  });

  it('a real agent reports its version, its connection and its config claims; stopping turns it offline at once', async () => {
    const box = await newAgent(alice, 'box');
    const tunnel = `box.alice.eu.${ZONE}`;
    const agent = createAgent(
      parseAgentConfig({ nats: nats.url, token: box.token, transport: 'core', generate: true, heartbeatMs: 100, graceMs: 0, ingress: [{ hostname: `app.${tunnel}`, service: 'http://127.0.0.1:9' }, { service: 'http://127.0.0.1:9' }] }),
      { nc, logger },
    );
    await agent.start();
    const a = await until('the agent online', async () => {
      const r = (await api('GET', '/v1/agents/box', alice)).json;
      return r.online && r.version ? r : undefined;
    });
    expect(a.version).toBe(AGENT_VERSION);
    expect(AGENT_VERSION).toMatch(/^sluice-agent\/\d+\.\d+\.\d+/);
    expect(a).toMatchObject({ activeConnections: 0, bytesInLastMinute: 0, bytesOutLastMinute: 0, instances: 1 });
    expect(Date.now() - Date.parse(a.connectedSince)).toBeLessThan(60_000);
    expect(a.sources).toEqual([{ hostname: tunnel, kind: 'cli' }, { hostname: `app.${tunnel}`, kind: 'config' }]);
    await agent.stop();
    const off = await until('offline', async () => {
      const r = (await api('GET', '/v1/agents/box', alice)).json;
      return r.online === false ? r : undefined;
    }, 3_000);
    expect(off.version).toBe(AGENT_VERSION); // the last one heard, shown while offline
    expect(off.lastSeen).toBeDefined();
    expect(off.activeConnections).toBeUndefined();
  });

  it('a restarted registry has the public addresses at once, from the DNS stream (when ddns keeps one)', async () => {
    const jsm = await jetstreamManager(nc);
    // what ddns creates: the last message of every subject
    await jsm.streams.add({ name: dnsStream.name, subjects: [...dnsStream.subjects], retention: RetentionPolicy.Limits, storage: StorageType.Memory, max_msgs_per_subject: 1 });
    await registry.stop();
    // reported while no registry listens
    nc.publish(dnsSubjects.agentAddress(web.agentId), dnsCodecs.agentAddress.encode({ v: 1, agentId: web.agentId, ipv6: '2001:db8::7', source: 'config', ts: Date.now() }));
    await nc.flush();
    registry = createRegistry(parseRegistryConfig(JSON.stringify({ zone: ZONE, region: 'eu', dnsServers: [dns.server], api: { port: 0, requestsPerMinute: 100_000 } }), 'test'), { nc, logger });
    await registry.start();
    base = `http://127.0.0.1:${registry.apiPort}`;
    const a = await until('the replayed address', async () => ((await api('GET', '/v1/agents/web', alice)).json.publicAddress?.ipv6 ? (await api('GET', '/v1/agents/web', alice)).json : undefined), 5_000);
    expect(a.publicAddress).toMatchObject({ ipv6: '2001:db8::7', source: 'config' });
    expect(a.publicAddress.ipv4).toBeUndefined();
    expect((await api('GET', '/v1/agents', bob)).json[0].publicAddress).toBeUndefined();
    await jsm.streams.delete(dnsStream.name);
  });
});

describe('what agents report, and its size', () => {
  it('bytes over the last minute come from monotonic totals sampled at each heartbeat', () => {
    const w = new RollingBytes(60_000, 0);
    expect(w.sample(100, 10, 500)).toEqual({ in: 100, out: 10 }); // younger than a minute: everything so far
    expect(w.sample(1_000, 100, 30_000)).toEqual({ in: 1_000, out: 100 });
    // the newest sample at least a minute old is the base: at 61 s the one at 0 s, at 100 s the one at 30 s
    expect(w.sample(5_000, 100, 61_000)).toEqual({ in: 5_000, out: 100 });
    expect(w.sample(5_000, 100, 100_000)).toEqual({ in: 4_000, out: 0 });
    for (let t = 100_000; t <= 400_000; t += 300) w.sample(5_000 + t, 100, t);
    const last = w.sample(5_000 + 400_300, 100, 400_300);
    expect(last.in).toBeGreaterThanOrEqual(60_000);
    expect(last.in).toBeLessThanOrEqual(61_300);
  });

  it(`${MAX_AGENT_HOSTNAMES.toLocaleString('en')} names from as many Ingresses (and a shared host per Ingress) stay under 1 MiB, on the wire and in the record`, () => {
    const hostnames = Array.from({ length: MAX_AGENT_HOSTNAMES }, (_, i) => `app-${i}.team-${i % 50}.apps.customer-domain.example.com`);
    const sources = new Map<string, ClaimSource[]>(hostnames.map((h, i) => [h, [
      { kind: 'ingress', namespace: `team-${i % 50}`, name: `app-${i}-ingress` },
      { kind: 'ingress', namespace: `team-${i % 50}`, name: `app-${i}-ingress-paths` },
    ]]));
    const { sources: grouped, dropped } = groupClaimSources(hostnames, sources);
    const wire = codecs.registerRequest.encode({ v: 1, token: 'sla_x_' + 'a'.repeat(32), transport: 'jetstream', hostnames, generate: true, sources: grouped });
    expect(wire.length).toBeLessThan(1024 * 1024);
    expect(codecs.registerRequest.decode(wire).hostnames).toHaveLength(MAX_AGENT_HOSTNAMES);
    // every name keeps its first Ingress; only second ones are left out past the budget
    expect(dropped).toBeLessThanOrEqual(MAX_AGENT_HOSTNAMES);
    const first = new Set(Object.values(grouped.ingress!).flat());
    expect(first.size).toBe(MAX_AGENT_HOSTNAMES);

    // one Ingress per name: nothing left out
    const single = groupClaimSources(hostnames, new Map(hostnames.map((h, i) => [h, [{ kind: 'ingress', namespace: `team-${i % 50}`, name: `app-${i}-ingress` }]])));
    expect(single.dropped).toBe(0);
    const record: AgentRecord = {
      v: 1, id: 'abcdefghij', name: 'big', user: 'alice', region: 'eu', hostname: `big.alice.eu.${ZONE}`, ddnsHostname: `big.alice.eu.dyn.${ZONE}`,
      secretHash: 'a'.repeat(64), createdAt: Date.now(), accepted: hostnames, refused: [], registeredAt: Date.now(), sources: single.sources,
    };
    const stored = recordCodecs.agent.encode(record);
    expect(stored.length).toBeLessThan(1024 * 1024);
    expect(recordCodecs.agent.decode(stored).sources?.ingress?.['team-7/app-7-ingress']).toEqual([7]);
  });
});
