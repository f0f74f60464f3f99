import { createDemoUpstream, type DemoUpstream } from '@sluice/demo';
import { startStack, type Stack, type StackOptions } from '@sluice/testing';
import type { ServiceProcess } from '@sluice/testing';

export const DEMO_TOKEN = 'demo-token-0123456789abcdef';
export const OTHER_TOKEN = 'other-token-0123456789abcdef';

export interface Gateway {
  stack: Stack;
  demo: DemoUpstream;
  agent: ServiceProcess; // replaced by tests that restart it
  startDemoAgent(id?: string): Promise<ServiceProcess>;
  stop(): Promise<void>;
}

/** A stack with the demo upstream behind one agent serving demo.sluice.localhost (HTTP + TLS). */
export async function startGateway(transport: 'core' | 'jetstream', opts: StackOptions = {}): Promise<Gateway> {
  const demo = createDemoUpstream({ httpPort: 0, httpsPort: 0, shutdownGraceMs: 100 });
  await demo.start();
  const stack = await startStack({
    registryAgents: [
      { id: 'demo', token: DEMO_TOKEN, hostnames: ['demo.sluice.localhost', '*.apps.sluice.localhost'] },
      { id: 'other', token: OTHER_TOKEN, hostnames: ['other.sluice.localhost'] },
    ],
    ...opts,
  });
  const startDemoAgent = (id = 'demo'): Promise<ServiceProcess> =>
    stack.startAgent({
      id,
      token: DEMO_TOKEN,
      transport,
      ingress: [
        { hostname: 'demo.sluice.localhost', service: `http://127.0.0.1:${demo.address().http}` },
        { hostname: '*.apps.sluice.localhost', service: `http://127.0.0.1:${demo.address().http}` },
        { hostname: 'demo.sluice.localhost', service: `tls://127.0.0.1:${demo.address().https}` },
      ],
    });
  const agent = await startDemoAgent();
  return {
    stack,
    demo,
    agent,
    startDemoAgent,
    async stop() {
      await stack.stop();
      await demo.stop();
    },
  };
}
