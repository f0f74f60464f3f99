import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer as httpServer, type Server } from 'node:http';
import { createServer as httpsServer, request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { NatsConnection } from '@nats-io/transport-node';
import { Event } from 'kubernetes-models/v1/Event';
import { ClusterIssuer } from '@kubernetes-models/cert-manager/cert-manager.io/v1/ClusterIssuer';
import { connectNats } from '@sluice/nats';
import { startStack, type Stack } from '@sluice/testing';
import { demoCertPaths } from '@sluice/demo';
import { createKubeAgent, parseKubeAgentConfig, type KubeAgent } from '@sluice/k8s-agent';
import { get } from '../support/http.ts';
import { FakeKubeApi, ingress, type KubeObject } from './support/fake-kube-api.ts';
import { kubeConfigFor, testLogger, waitFor } from './support/kube.ts';

const TOKEN = 'kube-agent-token-0123456789';
const TUNNEL = 'kube.dev.local.sluice.localhost'; // <agent>.<user>.<region>.<zone>

interface Controller {
  http: Server;
  https: Server;
  httpPort: number;
  tlsPort: number;
}

/** Stands in for the ingress-nginx controller Service: says which Host (and which port) it was asked for. */
async function startController(): Promise<Controller> {
  const http = httpServer((req, res) => res.end(`controller http host=${req.headers.host} path=${req.url}`));
  const https = httpsServer({ cert: readFileSync(demoCertPaths.leaf), key: readFileSync(demoCertPaths.leafKey) }, (req, res) =>
    res.end(`controller tls host=${req.headers.host}`),
  );
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
  return { http, https, httpPort: (http.address() as AddressInfo).port, tlsPort: (https.address() as AddressInfo).port };
}

function events(api: FakeKubeApi, namespace: string, name?: string): Array<Record<string, any>> {
  return api.list('events', namespace).filter((e) => name === undefined || (e as any).involvedObject.name === name) as Array<Record<string, any>>;
}

const lbHostnames = (o: KubeObject | undefined): string[] =>
  (((o?.status as any)?.loadBalancer?.ingress ?? []) as Array<{ hostname?: string }>).map((e) => e.hostname ?? '');

describe('Kubernetes agent: Ingress → claimed host → edge → ingress controller', () => {
  let stack: Stack;
  let api: FakeKubeApi;
  let controller: Controller;
  let nc: NatsConnection;
  let agent: KubeAgent;
  const logger = testLogger();

  beforeAll(async () => {
    controller = await startController();
    api = new FakeKubeApi({ certManager: true });
    await api.start();
    api.create('ingressclasses', {
      metadata: { name: 'nginx', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } },
      spec: { controller: 'k8s.io/ingress-nginx' },
    });
    // an Ingress from before the agent started: served from the first registration on
    api.create('ingresses', ingress('early', 'early', ['early.apps.sluice.localhost']));
    stack = await startStack({
      registryAgents: [{ id: 'kube', token: TOKEN, hostnames: ['*.apps.sluice.localhost', 'secure.sluice.localhost'] }],
    });
    nc = await connectNats({ servers: stack.nats.url, name: 'k8s-agent-test' }, logger);
    const config = parseKubeAgentConfig({
      token: TOKEN,
      agentId: 'kube',
      transport: 'jetstream',
      controller: { host: '127.0.0.1', httpPort: controller.httpPort, tlsPort: controller.tlsPort },
      namespaces: { exclude: ['kube-system'] },
      clusterIssuers: { email: 'ops@example.test' },
      settleMs: 20,
      backoff: { initialMs: 100, maxMs: 1_000 },
      heartbeatMs: 300,
      graceMs: 1_000,
    });
    agent = createKubeAgent(config, { nc, logger, kube: kubeConfigFor(api) });
    await agent.start();
  });

  afterAll(async () => {
    await agent?.stop();
    await nc?.drain();
    await stack?.stop();
    await api?.stop();
    controller?.http.close();
    controller?.https.close();
  });

  const through = (host: string, path = '/') => get(stack.httpPort, host, path);

  it('learns its tunnel address from the registry and serves Ingresses that existed before it started', async () => {
    expect(agent.ready).toBe(true);
    expect(agent.tunnelAddress).toBe(TUNNEL);
    const r = await through('early.apps.sluice.localhost', '/hello');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('controller http host=early.apps.sluice.localhost path=/hello');
    await waitFor('status on early', () => lbHostnames(api.get('ingresses', 'early', 'early')).join() === TUNNEL);
    // the tunnel address itself reaches the controller (its default backend)
    expect((await through(TUNNEL)).body.toString()).toBe(`controller http host=${TUNNEL} path=/`);
  });

  it('Ingress created → host claimed → a request through the edge reaches the controller → Ingress deleted → 404', async () => {
    expect((await through('shop.apps.sluice.localhost')).status).toBe(404);
    api.create('ingresses', ingress('shop', 'storefront', ['shop.apps.sluice.localhost']));
    const ok = await waitFor('the route', async () => {
      const r = await through('shop.apps.sluice.localhost', '/cart');
      return r.status === 200 ? r : undefined;
    });
    expect(ok.body.toString()).toBe('controller http host=shop.apps.sluice.localhost path=/cart');
    // status.loadBalancer names the tunnel address (what kubectl get ingress and external-dns read)
    await waitFor('status', () => lbHostnames(api.get('ingresses', 'shop', 'storefront')).join() === TUNNEL);

    // an update that changes the host moves the claim
    api.update('ingresses', 'shop', 'storefront', (o) => ((o.spec as any).rules[0].host = 'store.apps.sluice.localhost'));
    await waitFor('the new host', async () => (await through('store.apps.sluice.localhost')).status === 200);
    await waitFor('the old host released', async () => (await through('shop.apps.sluice.localhost')).status === 404);

    api.delete('ingresses', 'shop', 'storefront');
    const gone = await waitFor('the 404', async () => {
      const r = await through('store.apps.sluice.localhost');
      return r.status === 404 ? r : undefined;
    });
    expect(gone.body.toString()).toContain('store.apps.sluice.localhost');
    expect(events(api, 'shop')).toEqual([]); // nothing to complain about
  });

  it('passes TLS for spec.tls hosts through to the controller’s TLS port (the certificate stays in the cluster)', async () => {
    api.create('ingresses', ingress('secure', 'web', ['secure.sluice.localhost'], { tlsHosts: ['secure.sluice.localhost'] }));
    const body = await waitFor('TLS through the edge', () =>
      new Promise<string | undefined>((resolve) => {
        const req = httpsRequest(
          { host: '127.0.0.1', port: stack.tlsPort, servername: 'secure.sluice.localhost', headers: { host: 'secure.sluice.localhost' }, ca: readFileSync(demoCertPaths.ca), agent: false },
          (res) => {
            let data = '';
            res.on('data', (c: Buffer) => (data += c.toString()));
            res.on('end', () => resolve(data));
          },
        );
        req.on('error', () => resolve(undefined));
        req.end();
      }),
    );
    expect(body).toBe('controller tls host=secure.sluice.localhost');
    expect((await through('secure.sluice.localhost')).body.toString()).toContain('controller http'); // and HTTP too
  });

  it('claims hosts under its tunnel address and owned domains; a host it does not own is skipped with an Event saying why', async () => {
    api.create('ingresses', ingress('blog', 'blog', [`blog.${TUNNEL}`, 'www.apps.sluice.localhost', 'stolen.example.com']));
    await waitFor('blog', async () => (await through(`blog.${TUNNEL}`)).status === 200);
    await waitFor('www', async () => (await through('www.apps.sluice.localhost')).status === 200);
    expect((await through('stolen.example.com')).status).toBe(404);
    const [e] = await waitFor('the event', () => (events(api, 'blog', 'blog').length > 0 ? events(api, 'blog', 'blog') : undefined));
    expect(e).toMatchObject({ type: 'Warning', reason: 'HostRefused', involvedObject: { kind: 'Ingress', name: 'blog', namespace: 'blog' } });
    expect(e!.message).toContain('stolen.example.com');
    expect(e!.message).toMatch(/not owned by agent kube/);
    expect(() => new Event(e as any).validate()).not.toThrow();
    // served hosts are still written to status
    await waitFor('status', () => lbHostnames(api.get('ingresses', 'blog', 'blog')).join() === TUNNEL);
  });

  it('an Ingress with no rules (default backend only) gets a NoHosts Event and claims nothing', async () => {
    api.create('ingresses', {
      metadata: { name: 'catchall', namespace: 'misc' },
      spec: { ingressClassName: 'nginx', defaultBackend: { service: { name: 'web', port: { number: 80 } } } },
    });
    const [e] = await waitFor('the event', () => (events(api, 'misc', 'catchall').length > 0 ? events(api, 'misc', 'catchall') : undefined));
    expect(e).toMatchObject({ reason: 'NoHosts', type: 'Warning' });
    expect(lbHostnames(api.get('ingresses', 'misc', 'catchall'))).toEqual([]);
  });

  it('duplicate host across namespaces: the oldest Ingress keeps it, the other gets an Event, and takes over when the first goes', async () => {
    api.create('ingresses', ingress('team-b', 'dup', ['dup.apps.sluice.localhost'], { creationTimestamp: '2021-01-01T00:00:00Z' }));
    api.create('ingresses', ingress('team-a', 'dup', ['dup.apps.sluice.localhost'], { creationTimestamp: '2020-01-01T00:00:00Z' }));
    await waitFor('team-a served', () => lbHostnames(api.get('ingresses', 'team-a', 'dup')).join() === TUNNEL);
    const [e] = await waitFor('the event', () => (events(api, 'team-b', 'dup').length > 0 ? events(api, 'team-b', 'dup') : undefined));
    expect(e).toMatchObject({ reason: 'HostConflict' });
    expect(e!.message).toContain('team-a/dup');
    expect(lbHostnames(api.get('ingresses', 'team-b', 'dup'))).toEqual([]);
    expect(events(api, 'team-a')).toEqual([]);
    expect((await through('dup.apps.sluice.localhost')).status).toBe(200);

    api.delete('ingresses', 'team-a', 'dup');
    await waitFor('team-b served', () => lbHostnames(api.get('ingresses', 'team-b', 'dup')).join() === TUNNEL);
    expect((await through('dup.apps.sluice.localhost')).status).toBe(200);
  });

  it('invalid hostnames are skipped with an Event each; the valid hosts of the same Ingress are served', async () => {
    api.create('ingresses', ingress('odd', 'mixed', ['bad_host..apps.sluice.localhost', '10.0.0.1', 'foo.*.apps.sluice.localhost', 'OK.Apps.Sluice.Localhost.']));
    await waitFor('ok', async () => (await through('ok.apps.sluice.localhost')).status === 200);
    const got = await waitFor('three events', () => (events(api, 'odd', 'mixed').length === 3 ? events(api, 'odd', 'mixed') : undefined));
    expect(got.map((e) => e.reason)).toEqual(['InvalidHost', 'InvalidHost', 'InvalidHost']);
    expect(got.map((e) => e.message).join('\n')).toMatch(/10\.0\.0\.1" is an IP address/);
  });

  it('ignores Ingresses of another class and in excluded namespaces; a class-less Ingress goes to the default class', async () => {
    api.create('ingresses', ingress('other', 'traefik', ['traefik.apps.sluice.localhost'], { className: 'traefik' }));
    api.create('ingresses', ingress('kube-system', 'dash', ['dash.apps.sluice.localhost']));
    api.create('ingresses', ingress('legacy', 'annotated', ['legacy.apps.sluice.localhost'], { className: null, annotations: { 'kubernetes.io/ingress.class': 'traefik' } }));
    api.create('ingresses', ingress('plain', 'noclass', ['noclass.apps.sluice.localhost'], { className: null }));
    await waitFor('noclass', async () => (await through('noclass.apps.sluice.localhost')).status === 200);
    for (const h of ['traefik', 'dash', 'legacy']) expect((await through(`${h}.apps.sluice.localhost`)).status).toBe(404);
    expect([...events(api, 'other'), ...events(api, 'kube-system'), ...events(api, 'legacy')]).toEqual([]);
  });

  it('ensures the letsencrypt and letsencrypt-staging ClusterIssuers (HTTP-01 through its ingress class)', async () => {
    const issuers = await waitFor('issuers', () => (api.list('clusterissuers').length === 2 ? api.list('clusterissuers') : undefined));
    const prod = issuers.find((i) => i.metadata.name === 'letsencrypt')!;
    expect(prod.spec).toEqual({
      acme: {
        server: 'https://acme-v02.api.letsencrypt.org/directory',
        email: 'ops@example.test',
        privateKeySecretRef: { name: 'letsencrypt-account-key' },
        solvers: [{ http01: { ingress: { ingressClassName: 'nginx' } } }],
      },
    });
    expect((issuers.find((i) => i.metadata.name === 'letsencrypt-staging')!.spec as any).acme.server).toContain('acme-staging-v02');
    // valid as cert-manager's CRD schema has it
    for (const i of issuers) expect(() => new ClusterIssuer(i as any).validate()).not.toThrow();
  });

  it('with the API server unreachable it keeps serving what it knows, retries with backoff, and catches up when it is back', async () => {
    api.create('ingresses', ingress('steady', 'app', ['steady.apps.sluice.localhost']));
    await waitFor('steady', async () => (await through('steady.apps.sluice.localhost')).status === 200);
    const errorsBefore = agent.snapshot().informers.ingresses.errors;
    await api.goDown('refuse');
    const until = Date.now() + 2_000;
    while (Date.now() < until) {
      expect((await through('steady.apps.sluice.localhost')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 100));
    }
    const errors = agent.snapshot().informers.ingresses.errors - errorsBefore;
    // 100, 200, 400, 800 ms apart (±20%): about four attempts in 2 s, not a hot loop
    expect(errors).toBeGreaterThanOrEqual(2);
    expect(errors).toBeLessThanOrEqual(8);
    expect(agent.ready).toBe(true);

    api.create('ingresses', ingress('steady', 'later', ['later.apps.sluice.localhost'])); // happened while away
    await api.comeBack();
    await waitFor('later', async () => (await through('later.apps.sluice.localhost')).status === 200, 10_000);
    expect((await through('steady.apps.sluice.localhost')).status).toBe(200);
  });
});
