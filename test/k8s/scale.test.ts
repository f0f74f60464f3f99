import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startStack, spawnService, rssKiB, repoRoot, type Stack, type ServiceProcess } from '@sluice/testing';
import { get } from '../support/http.ts';
import { FakeKubeApi, ingress, type KubeObject } from './support/fake-kube-api.ts';
import { waitFor } from './support/kube.ts';
import { parseYaml } from './support/kustomize.ts';

const TOKEN = 'big-cluster-token-0123456789';
const TUNNEL = 'big.dev.local.sluice.localhost';
const COUNT = 10_000;
const NAMESPACES = 100;
/** The registry takes 10,000 hostnames per agent (the tunnel address comes on top, unasked). */
const CLAIMABLE = 10_000;

/** NODE_OPTIONS as k8s/agent deploys the agent: the process measured here runs as it would there. */
function deployedNodeOptions(): string {
  const [deployment] = parseYaml(readFileSync(join(repoRoot, 'k8s/agent/deployment.yaml'), 'utf8')) as Array<Record<string, any>>;
  const env = deployment!.spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>;
  return env.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
}

/** VmHWM: the peak resident set size of a process so far, in KiB. */
function peakRssKiB(pid: number): number {
  const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m?.[1]) throw new Error(`no VmHWM for ${pid}`);
  return Number(m[1]);
}

/** An Ingress as clusters have them: labels, kubectl's last-applied annotation, managedFields. */
function realistic(i: number): KubeObject {
  const ns = `team-${i % NAMESPACES}`;
  const o = ingress(ns, `app-${i}`, [`app-${i}.${TUNNEL}`], {
    creationTimestamp: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  });
  o.metadata.labels = { 'app.kubernetes.io/name': `app-${i}`, 'app.kubernetes.io/part-of': 'shop', team: ns };
  o.metadata.annotations = {
    'nginx.ingress.kubernetes.io/proxy-body-size': '16m',
    'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: o.metadata, spec: o.spec }),
  };
  o.metadata.managedFields = [
    { manager: 'kubectl-client-side-apply', operation: 'Update', apiVersion: 'networking.k8s.io/v1', time: '2024-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:annotations': { '.': {} } }, 'f:spec': { 'f:rules': {} } } },
  ];
  return o;
}

describe('Kubernetes agent at scale (its own process, as deployed)', () => {
  let stack: Stack;
  let api: FakeKubeApi;
  let controller: Server;
  let agent: ServiceProcess | undefined;

  beforeAll(async () => {
    controller = createServer((req, res) => res.end(`controller host=${req.headers.host}`));
    await new Promise<void>((r) => controller.listen(0, '127.0.0.1', r));
    api = new FakeKubeApi({ splitChunks: false });
    await api.start();
    api.create('ingressclasses', { metadata: { name: 'nginx' }, spec: { controller: 'k8s.io/ingress-nginx' } });
    for (let i = 0; i < COUNT; i++) api.create('ingresses', realistic(i));
    stack = await startStack({ registryAgents: [{ id: 'big', token: TOKEN, hostnames: [] }] });
  });

  afterAll(async () => {
    await agent?.stop(10_000);
    await stack?.stop();
    await api?.stop();
    controller?.close();
  });

  it(`syncs ${COUNT.toLocaleString('en')} Ingresses within 10 s with its memory under 200 MiB`, async () => {
    const t0 = Date.now();
    agent = await spawnService('k8s-agent', 'services/k8s-agent/src/main.ts', {
      NATS_URL: stack.nats.url,
      KUBECONFIG: api.writeKubeconfig(),
      SLUICE_AGENT_TOKEN: TOKEN,
      NODE_OPTIONS: deployedNodeOptions(),
      K8S_AGENT_CONFIG_JSON: JSON.stringify({
        agentId: 'big',
        transport: 'core',
        controller: { host: '127.0.0.1', httpPort: (controller.address() as AddressInfo).port },
        clusterIssuers: { enabled: false },
      }),
    });
    const readyMs = Date.now() - t0;
    expect(agent.ready.tunnelAddress).toBe(TUNNEL);
    // synced: every Ingress it can claim is served and says so in its status. Timed from its first
    // LIST (what grows with the number of Ingresses), not from the process start (module loading)
    const firstList = api.requests.find((r) => r.path === '/apis/networking.k8s.io/v1/ingresses')!.at;
    await waitFor('the first status write', () => api.statusWrites > 0, 10_000, 5);
    const firstWrite = Date.now() - firstList;
    await waitFor('status of every claimed Ingress', () => api.statusWrites >= CLAIMABLE, 10_000 - (Date.now() - firstList), 20);
    const syncMs = Date.now() - firstList;
    const peakMiB = peakRssKiB(agent.pid) / 1024;
    const nowMiB = rssKiB(agent.pid) / 1024;
    process.stderr.write(
      `k8s-agent with ${COUNT} Ingresses: process start to ready ${readyMs} ms; first LIST to synced ${syncMs} ms (to the first status write ${firstWrite} ms); peak RSS ${peakMiB.toFixed(0)} MiB, now ${nowMiB.toFixed(0)} MiB\n`,
    );
    expect(syncMs).toBeLessThan(10_000);
    expect(peakMiB).toBeLessThan(200);

    // every Ingress got its host, the first as the last
    for (const i of [0, 4_321, CLAIMABLE - 1]) {
      expect(api.get('ingresses', `team-${i % NAMESPACES}`, `app-${i}`)!.status).toEqual({ loadBalancer: { ingress: [{ hostname: TUNNEL }] } });
      const r = await get(stack.httpPort, `app-${i}.${TUNNEL}`);
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe(`controller host=app-${i}.${TUNNEL}`);
    }

    // one Ingress more than the agent may claim: the newest is skipped, and told so
    api.create('ingresses', realistic(CLAIMABLE));
    const limited = await waitFor('HostLimit events', () => {
      const e = api.list('events', `team-${CLAIMABLE % NAMESPACES}`).filter((x) => (x as any).involvedObject.name === `app-${CLAIMABLE}`);
      return e.length > 0 ? e : undefined;
    });
    expect((limited[0] as any).reason).toBe('HostLimit');
    expect(api.get('ingresses', `team-${CLAIMABLE % NAMESPACES}`, `app-${CLAIMABLE}`)!.status).toEqual({ loadBalancer: {} });
    expect((await get(stack.httpPort, `app-${CLAIMABLE}.${TUNNEL}`)).status).toBe(404);

    // one more Ingress after the sync: deleting an old one frees a slot for the next in line
    api.delete('ingresses', 'team-3', 'app-3');
    await waitFor('the next in line served', async () => (await get(stack.httpPort, `app-${CLAIMABLE}.${TUNNEL}`)).status === 200, 5_000);
    // (the registry stores the new route before it deletes the released one: wait, don't race)
    await waitFor('app-3 released', async () => (await get(stack.httpPort, `app-3.${TUNNEL}`)).status === 404, 5_000);
  });
});
