import { createDemoUpstream, type DemoUpstream } from '@sluice/demo';
import type { TransportKind } from '@sluice/contracts';
import { startStack, type NatsServerHandle, type ServiceProcess, type Stack } from '@sluice/testing';
import { DEMO_TOKEN } from '../../support/gateway.ts';

export { DEMO_TOKEN };
export const DEMO_HOST = 'demo.sluice.localhost';

/** Which server each service connects to: nothing but the NATS URLs differs from one server. */
export interface Placement {
  /** The registry connects here (startStack puts it on its `nats`). */
  registry: NatsServerHandle;
  edge: string;
  router: string;
  agent: string;
}

export interface ClusterGateway {
  stack: Stack;
  demo: DemoUpstream;
  agent: ServiceProcess;
  placement: Placement;
  stop(): Promise<void>;
}

/**
 * The e2e gateway (registry, router, edge, one demo agent in front of the demo upstream) with each
 * service on the NATS server its placement names. The stack does not own the servers.
 */
export async function startClusterGateway(
  transport: TransportKind,
  placement: Placement,
  opts: { edgeEnv?: Record<string, string>; agentEnv?: Record<string, string> } = {},
): Promise<ClusterGateway> {
  const demo = createDemoUpstream({ httpPort: 0, httpsPort: 0, shutdownGraceMs: 100 });
  await demo.start();
  let stack: Stack | undefined;
  try {
    stack = await startStack({
      nats: placement.registry,
      registryAgents: [{ id: 'demo', token: DEMO_TOKEN, hostnames: [DEMO_HOST, '*.apps.sluice.localhost'] }],
      edgeEnv: { NATS_URL: placement.edge, ...opts.edgeEnv },
      routerEnv: { NATS_URL: placement.router },
    });
    const agent = await stack.startAgent({
      id: 'demo',
      token: DEMO_TOKEN,
      transport,
      natsUrl: placement.agent,
      ingress: [
        { hostname: DEMO_HOST, service: `http://127.0.0.1:${demo.address().http}` },
        { hostname: DEMO_HOST, service: `tls://127.0.0.1:${demo.address().https}` },
      ],
      ...(opts.agentEnv ? { env: opts.agentEnv } : {}),
    });
    const started = stack;
    return {
      stack: started,
      demo,
      agent,
      placement,
      async stop() {
        await started.stop();
        await demo.stop();
      },
    };
  } catch (err) {
    await stack?.stop();
    await demo.stop();
    throw err;
  }
}
