import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Resolver } from 'node:dns/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNats, type NatsServerHandle } from '@sluice/testing';
import { createAgent, parseAgentConfig, type Agent } from '@sluice/agent';
import { createRegistry, parseRegistryConfig, type Registry } from '@sluice/registry';
import { DYN_ZONE, TUNNEL_ZONE, silentLogger, startDdnsFixture, type DdnsFixture } from './support/ddns-fixture.ts';
import { dig } from './support/dns-client.ts';
import { eventually } from './support/events.ts';

const TOKEN_A = 'mycluster-token-0123456789';
const TOKEN_B = 'homelab-token-0123456789ab';

/**
 * The agent's side of dynamic DNS, end to end with the real registry and agent code: the agent
 * learns its public address from the NATS server (its connection's client_ip) or from its config,
 * reports it periodically, and ddns answers its generated name in the dyn zone with it.
 */
describe('agents report their public address; ddns answers their dyn-zone names', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let registry: Registry;
  const agents: Agent[] = [];
  let f: DdnsFixture | undefined;

  const startAgent = async (agentId: string, token: string, extra: Record<string, unknown> = {}): Promise<Agent> => {
    const agentNc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const agent = createAgent(
      parseAgentConfig({ nats: nats.url, token, agentId, generate: true, transport: 'core', ingress: [{ service: 'http://127.0.0.1:9' }], addressReportMs: 250, graceMs: 0, ...extra }),
      { nc: agentNc, logger: silentLogger },
    );
    await agent.start();
    agents.push(agent);
    return agent;
  };

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    registry = createRegistry(
      parseRegistryConfig(
        JSON.stringify({
          zone: TUNNEL_ZONE,
          region: 'eu',
          agents: [
            { id: 'mycluster', user: 'alice', token: TOKEN_A, hostnames: [] },
            { id: 'homelab', user: 'bob', token: TOKEN_B, hostnames: [] },
          ],
        }),
      ),
      { nc, logger: silentLogger },
    );
    await registry.start();
  });
  afterAll(async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    await f?.stop();
    await registry?.stop();
    await nc?.close();
    await nats?.stop();
  });

  it('by default the address is where the NATS server sees the agent connect from; a ddns started later has it within one period', async () => {
    // no ddns yet: nothing keeps the agent's first reports
    await startAgent('mycluster', TOKEN_A);
    f = await startDdnsFixture({}, nats);
    const name = `mycluster.alice.eu.${DYN_ZONE}`;
    const resolver = new Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([`127.0.0.1:${f.port}`]);
    await eventually(async () => expect(await resolver.resolve4(name)).toEqual(['127.0.0.1']), 2000);
    expect((await dig(f.port, [name, 'A', '+short'])).trim()).toBe('127.0.0.1');
    // its tunnel name answers the edges, as every tunnel-zone name does
    expect(await resolver.resolve4(`mycluster.alice.eu.${TUNNEL_ZONE}`)).toEqual(['192.0.2.10']);
  });

  it('a fixed address in the agent config overrides it (A and AAAA)', async () => {
    await startAgent('homelab', TOKEN_B, { publicAddress: { ipv4: '198.51.100.20', ipv6: '2001:db8::20' } });
    const name = `homelab.bob.eu.${DYN_ZONE}`;
    await eventually(async () => expect((await dig(f!.port, [name, 'A', '+short'])).trim()).toBe('198.51.100.20'), 2000);
    expect((await dig(f!.port, [name, 'AAAA', '+short'])).trim()).toBe('2001:db8::20');
  });

  it('rejects an agent config whose fixed address is not an address', () => {
    expect(() => parseAgentConfig({ nats: 'nats://x', ingress: [{ service: 'http://127.0.0.1:9' }], publicAddress: { ipv4: '300.1.1.1' } })).toThrow(/publicAddress\/ipv4/);
  });
});
