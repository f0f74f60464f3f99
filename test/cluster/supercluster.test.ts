import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { openBucket } from '@sluice/nats';
import { patternStream, patternDigest, startStack, startSupercluster, type ServiceProcess, type Stack, type SuperclusterHandle } from '@sluice/testing';
import { get } from '../support/http.ts';
import { DEMO_TOKEN } from './support/gateway.ts';
import { download } from './support/transfer.ts';
import { captureLogger } from './support/logs.ts';

const HOST = 'demo.sluice.localhost';

/** An upstream that names its region in every answer, and serves /bytes like the demo. */
async function regionUpstream(region: string): Promise<Server> {
  const server = createServer((req, res) => {
    const n = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('n') ?? 0);
    if (req.url?.startsWith('/bytes')) {
      res.writeHead(200, { 'content-length': String(n) });
      patternStream(n, 61).pipe(res);
      return;
    }
    res.end(region);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

// eu: three servers, us: one (a second cluster of three would double the processes on 2 cores
// without testing anything more: the gateway and the placement are the same)
describe('a supercluster of eu (3 servers) and us (1)', () => {
  let sc: SuperclusterHandle;
  let stack: Stack;
  let usEdgePort: number;
  let euEdgePort: number;
  const upstreams = new Map<string, Server>();
  const agentIn = async (region: 'eu' | 'us', natsUrl: string, transport: 'core' | 'jetstream'): Promise<ServiceProcess> => {
    const upstream = await regionUpstream(region);
    upstreams.set(region, upstream);
    const config = {
      nats: natsUrl,
      token: DEMO_TOKEN,
      agentId: `demo-${region}`,
      transport,
      region,
      graceMs: 1000,
      ingress: [{ hostname: HOST, service: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` }],
    };
    // the stack's agent spec has no region: the whole config goes in through the environment
    return stack.startAgent({ id: config.agentId, token: DEMO_TOKEN, transport, natsUrl, ingress: config.ingress, env: { AGENT_CONFIG_JSON: JSON.stringify(config) } });
  };
  const answers = async (port: number, n: number): Promise<string[]> => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push((await get(port, HOST)).body.toString());
    return out;
  };

  beforeAll(async () => {
    sc = await startSupercluster({ clusters: { eu: 3, us: 1 } });
    const eu = sc.cluster('eu');
    const us = sc.cluster('us');
    // registry and router in eu: the routes bucket and the control streams are placed there
    stack = await startStack({
      nats: eu.servers[0]!,
      registryAgents: [{ id: 'demo', token: DEMO_TOKEN, hostnames: [HOST] }],
      routerEnv: { NATS_URL: eu.urls[1]! },
      edgeEnv: { NATS_URL: us.urls[0]!, EDGE_REGION: 'us' },
    });
    usEdgePort = stack.httpPort;
    const euEdge = await stack.startEdge({ NATS_URL: eu.urls[2]!, EDGE_REGION: 'eu' });
    euEdgePort = Number(euEdge.ready['http']);
  });
  afterAll(async () => {
    await stack?.stop();
    for (const s of upstreams.values()) s.close();
    await sc?.stop();
  });

  it('replicates a bucket three times wherever it is created from: us has one server, so in eu', async () => {
    const log = captureLogger();
    for (const cluster of ['eu', 'us'] as const) {
      const nc = await connect({ servers: sc.cluster(cluster).urls[0]! });
      try {
        await openBucket(nc, `placed_${cluster}`, { logger: log.logger });
        const si = await (await jetstreamManager(nc)).streams.info(`KV_placed_${cluster}`);
        expect({ cluster: si.cluster?.name, replicas: si.config.num_replicas, peers: 1 + (si.cluster?.replicas?.length ?? 0) }).toEqual({ cluster: 'eu', replicas: 3, peers: 3 });
      } finally {
        await nc.close();
      }
    }
    expect(log.entries().filter((e) => Number(e['level']) >= 40)).toEqual([]);
  });

  it('an edge in us serves a name whose only agent is in eu, its bytes crossing the gateway', async () => {
    await agentIn('eu', sc.cluster('eu').urls[2]!, 'jetstream');
    expect(await answers(usEdgePort, 3)).toEqual(['eu', 'eu', 'eu']);
    const n = 16 * 1024 * 1024;
    const r = await download(usEdgePort, HOST, n, 61).done;
    expect(r).toMatchObject({ status: 200, complete: true, ...(await patternDigest(n, 61)) });
  }, 30_000);

  it('with an agent in each region, each edge picks the one in its own region', async () => {
    await agentIn('us', sc.cluster('us').urls[0]!, 'core');
    expect(await answers(usEdgePort, 6)).toEqual(Array(6).fill('us'));
    expect(await answers(euEdgePort, 6)).toEqual(Array(6).fill('eu'));
  }, 30_000);
});
