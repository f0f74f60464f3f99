import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoUpstream, type DemoUpstream } from '@sluice/demo';
import { startStack, type CredsFile, type ServiceProcess, type Stack } from '@sluice/testing';
import { get } from '../support/http.ts';

interface CreatedAgent {
  hostname: string;
  credentials: { agentId: string; token: string };
}

/** Creates an agent through the registry's REST API, as `sluice agents create` does. */
async function createAgent(stack: Stack, name: string): Promise<CreatedAgent> {
  const { apiPort, bootstrapToken } = stack.registry.ready as { apiPort: number; bootstrapToken: string };
  const res = await fetch(`http://127.0.0.1:${apiPort}/v1/agents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bootstrapToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as CreatedAgent;
}

/**
 * The real agent, as a child process on credentials of its own (`credentials` in its config),
 * against edge, router and registry on service credentials: everything it does must fit in
 * `agentPermissions`, for both byte transports.
 */
describe('agents on their own NATS credentials', () => {
  let demo: DemoUpstream;
  let stack: Stack;
  const agents = new Map<'core' | 'jetstream', { process: ServiceProcess; creds: CredsFile; hostname: string }>();

  beforeAll(async () => {
    demo = createDemoUpstream({ httpPort: 0, httpsPort: 0, shutdownGraceMs: 100 });
    await demo.start();
    stack = await startStack({ auth: true, registryConfig: { api: { port: 0 } } });
    for (const transport of ['core', 'jetstream'] as const) {
      const created = await createAgent(stack, `${transport}agent`);
      const { agentId, token } = created.credentials;
      const creds = await stack.auth!.agentCredsFile(agentId);
      const process = await stack.startAgent({
        id: agentId,
        token,
        transport,
        credentials: creds.path,
        ingress: [{ hostname: created.hostname, service: `http://127.0.0.1:${demo.address().http}` }],
      });
      agents.set(transport, { process, creds, hostname: created.hostname });
    }
  });
  afterAll(async () => {
    await stack?.stop();
    await demo?.stop();
  });

  for (const transport of ['core', 'jetstream'] as const) {
    it(`carries HTTP through edge → agent → upstream over ${transport}, never refused by the server`, async () => {
      const { process, hostname } = agents.get(transport)!;
      for (let i = 0; i < 3; i++) {
        const r = await get(stack.httpPort, hostname, '/headers');
        expect(r.status, process.logs()).toBe(200);
        expect(JSON.parse(r.body.toString()).host).toBe(hostname);
      }
      expect(process.logs()).not.toMatch(/Permissions Violation/);
    });
  }

  it('disconnects a revoked agent for good, and the others keep serving', async () => {
    const { process, creds } = agents.get('core')!;
    const t0 = Date.now();
    await stack.auth!.revoke(creds.userPublicKey);
    // the server drops it; its reconnects are refused, so it gives up and exits non-zero
    const code = await Promise.race([process.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 8_000))]);
    expect(code, process.logs()).toBe(1);
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(process.logs()).toMatch(/Authentication Revoked|Authorization Violation/i);
    expect(process.logs()).toMatch(/credentials revoked or refused/);
    await expect(stack.auth!.connect(creds.creds)).rejects.toThrow(/Authorization Violation/);
    const other = agents.get('jetstream')!;
    expect((await get(stack.httpPort, other.hostname)).status).toBe(200);
  });

  it('after a nats-server restart the agent asks the registry for its consumers again and serves', async () => {
    const { process, hostname } = agents.get('jetstream')!;
    await stack.nats.restart();
    // streams and consumers of memory storage are gone; the agent may not create its own
    let status = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 20_000) {
      status = await get(stack.httpPort, hostname).then((r) => r.status, () => 0);
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(status, process.logs()).toBe(200);
    globalThis.process.stderr.write(`agent on own credentials served again ${Date.now() - t0} ms after the nats-server restart\n`);
    expect(process.logs()).not.toMatch(/Permissions Violation/);
  });
});
