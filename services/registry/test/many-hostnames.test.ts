import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startNats, startTestDns, type NatsServerHandle, type TestDns } from '@sluice/testing';
import { codecs, subjects, MAX_AGENT_HOSTNAMES, MAX_REPLY_URLS } from '@sluice/contracts';
import { openRoutesBucket } from '@sluice/nats';
import { createRegistry, parseRegistryConfig, type Registry } from '../src/index.ts';
import { restClient } from './support/rest.ts';

const logger = pino({ level: process.env.SLUICE_TEST_LOG_LEVEL ?? 'silent' });
const ZONE = 'sluice.test';

let nats: NatsServerHandle;
let nc: NatsConnection;
let dns: TestDns;
let registry: Registry;
let base: string;

const api = restClient(() => base);

async function register(token: string, hostnames: string[]) {
  const m = await nc.request(subjects.registryRegister, codecs.registerRequest.encode({ v: 1, token, transport: 'core', hostnames, generate: true }), { timeout: 30_000 });
  return codecs.registerReply.decode(m.data);
}

async function routeCount(agentId: string): Promise<number> {
  const kv = await openRoutesBucket(nc);
  let n = 0;
  for await (const _ of await kv.keys(`${agentId}.>`)) n++;
  return n;
}

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  dns = await startTestDns();
  registry = createRegistry(parseRegistryConfig(JSON.stringify({ zone: ZONE, region: 'eu', dnsServers: [dns.server], api: { port: 0 } }), 'test'), { nc, logger });
  await registry.start();
  base = `http://127.0.0.1:${registry.apiPort}`;
});

afterAll(async () => {
  await registry?.stop();
  await nc?.drain();
  await dns?.stop();
  await nats?.stop();
});

describe('an agent with 10,000 hostnames (a large Kubernetes cluster)', () => {
  it('claims them all in one registration, releases what it stops asking for, and is refused past the limit', async () => {
    const admin = registry.bootstrapToken!;
    const user = (await api('POST', '/v1/users', admin, { name: 'big' })).json.token as string;
    const agent = (await api('POST', '/v1/agents', user, { name: 'cluster', region: 'eu' })).json;
    const address = `cluster.big.eu.${ZONE}`;
    const names = Array.from({ length: MAX_AGENT_HOSTNAMES }, (_, i) => `app-${i}.${address}`);

    const t0 = Date.now();
    const reply = await register(agent.credentials.token, [...names.slice(0, -3), 'a.not-mine.example', 'b.not-mine.example', 'c.not-mine.example']);
    const ms = Date.now() - t0;
    process.stderr.write(`registration of ${MAX_AGENT_HOSTNAMES} hostnames: ${ms} ms\n`);
    expect(reply.ok, JSON.stringify(reply.error)).toBe(true);
    // the tunnel address (generated) comes on top of what was asked
    expect(reply.accepted).toHaveLength(MAX_AGENT_HOSTNAMES - 3 + 1);
    expect(reply.refused.map((r) => r.hostname)).toEqual(['a.not-mine.example', 'b.not-mine.example', 'c.not-mine.example']);
    expect(reply.urls).toHaveLength(MAX_REPLY_URLS);
    expect(await routeCount(reply.agentId!)).toBe(MAX_AGENT_HOSTNAMES - 3 + 1);

    // the record (without a second copy of the names) is what `sluice agents status` reads
    const status = (await api('GET', '/v1/agents/cluster', user)).json;
    expect(status.accepted).toHaveLength(MAX_AGENT_HOSTNAMES - 2);
    expect(status.refused).toHaveLength(3);
    expect(status.requested).toHaveLength(MAX_AGENT_HOSTNAMES + 1);

    // a registration is the whole claim set: the names it no longer asks for are released
    const half = await register(agent.credentials.token, names.slice(0, MAX_AGENT_HOSTNAMES / 2));
    expect(half.accepted).toHaveLength(MAX_AGENT_HOSTNAMES / 2 + 1);
    expect(await routeCount(reply.agentId!)).toBe(MAX_AGENT_HOSTNAMES / 2 + 1);

    // one name past the limit: a precise refusal, and the routes stay as they were
    // (raw JSON: the codec would not encode it)
    const tooMany = JSON.stringify({ v: 1, token: agent.credentials.token, transport: 'core', hostnames: [...names, `one-more.${address}`], generate: true });
    const over = await nc.request(subjects.registryRegister, new TextEncoder().encode(tooMany), { timeout: 10_000 });
    const refused = codecs.registerReply.decode(over.data);
    expect(refused.ok).toBe(false);
    expect(refused.error?.code).toBe('SLUICE_INVALID_MESSAGE');
    expect(refused.error?.message).toMatch(/hostnames/);
    expect(refused.error?.message).toMatch(/10000/);
    expect(await routeCount(reply.agentId!)).toBe(MAX_AGENT_HOSTNAMES / 2 + 1);
  });
});
