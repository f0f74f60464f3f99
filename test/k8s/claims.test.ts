import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createKubeApi,
  endpointFromKubeconfig,
  ensureClusterIssuer,
  inClusterEndpoint,
  parseKubeAgentConfig,
  planClaims,
  specHash,
  toIngressClassView,
  toIngressView,
  type KubeAgentConfig,
} from '@sluice/k8s-agent';
import { FakeKubeApi, ingress, type KubeObject } from './support/fake-kube-api.ts';
import { kubeConfigFor, testLogger } from './support/kube.ts';

let uid = 0;
/** An Ingress view as the informer caches it. */
function view(ns: string, name: string, hosts: Array<string | null>, opts: Parameters<typeof ingress>[3] & { created?: string } = {}) {
  const o = ingress(ns, name, hosts.filter((h): h is string => h !== null), { ...opts, creationTimestamp: opts.created ?? '2024-01-01T00:00:00Z' }) as KubeObject & { spec: any };
  if (hosts.includes(null)) o.spec.rules.push({ http: { paths: [] } });
  o.metadata.uid = `uid-${++uid}`;
  o.metadata.resourceVersion = String(uid);
  return toIngressView(o);
}

const config = (over: Partial<KubeAgentConfig> = {}): KubeAgentConfig => ({ ...parseKubeAgentConfig({ token: 't', controller: { host: 'ctrl.svc', httpPort: 80, tlsPort: 443 } }), ...over });

describe('which hosts the agent claims (planClaims)', () => {
  it('oldest Ingress wins a host for its namespace; same-namespace Ingresses share it; others get HostConflict', () => {
    const a = view('a', 'first', ['x.example.test'], { created: '2024-01-01T00:00:00Z' });
    const b = view('b', 'second', ['x.example.test'], { created: '2024-01-02T00:00:00Z' });
    const a2 = view('a', 'third', ['x.example.test'], { created: '2024-01-03T00:00:00Z' });
    const p = planClaims({ ingresses: [a2, b, a], classes: [], config: config() });
    expect(p.hosts).toEqual(['x.example.test']);
    expect(p.ownersOf.get('x.example.test')!.map((r) => r.name)).toEqual(['first', 'third']);
    expect(p.issues).toEqual([expect.objectContaining({ reason: 'HostConflict', host: 'x.example.test', ingress: expect.objectContaining({ namespace: 'b' }) })]);
    expect(p.hostsOf.get(b.metadata.uid)).toEqual([]);
  });

  it('ties on creation time go by namespace/name, so every replica and restart decides alike', () => {
    const x = view('zeta', 'a', ['t.example.test']);
    const y = view('alpha', 'b', ['t.example.test']);
    expect(planClaims({ ingresses: [x, y], classes: [], config: config() }).ownersOf.get('t.example.test')![0]!.namespace).toBe('alpha');
    expect(planClaims({ ingresses: [y, x], classes: [], config: config() }).ownersOf.get('t.example.test')![0]!.namespace).toBe('alpha');
  });

  it('HTTP to the controller’s port 80 for every host, TLS to 443 for spec.tls hosts (exact or one-label wildcard)', () => {
    const i = view('a', 'web', ['a.example.test', 'b.example.test', 'c.deep.example.test'], { tlsHosts: ['a.example.test', '*.example.test'] });
    const p = planClaims({ ingresses: [i], classes: [], config: config() });
    expect(p.rules).toEqual([
      { service: 'http://ctrl.svc:80' }, // the tunnel address (routed to the agent unasked) to the controller's default backend
      { hostname: 'a.example.test', service: 'http://ctrl.svc:80' },
      { hostname: 'a.example.test', service: 'tls://ctrl.svc:443' },
      { hostname: 'b.example.test', service: 'http://ctrl.svc:80' },
      { hostname: 'b.example.test', service: 'tls://ctrl.svc:443' },
      { hostname: 'c.deep.example.test', service: 'http://ctrl.svc:80' },
    ]);
  });

  it('normalises hosts, skips invalid ones and IP addresses, and reports Ingresses that name no host', () => {
    const p = planClaims({
      ingresses: [
        view('a', 'mixed', ['UP.Example.Test.', '*.wild.example.test', 'bad..example.test', '192.0.2.1', '*', 'a*.example.test']),
        view('a', 'hostless', [null]),
        view('a', 'empty', []),
      ],
      classes: [],
      config: config(),
    });
    expect(p.hosts).toEqual(['up.example.test', '*.wild.example.test']);
    // same creation time: in namespace/name order
    expect(p.issues.map((i) => `${i.ingress.name}:${i.reason}:${i.host ?? ''}`)).toEqual([
      'empty:NoHosts:',
      'hostless:NoHosts:',
      'mixed:InvalidHost:bad..example.test',
      'mixed:InvalidHost:192.0.2.1',
      'mixed:InvalidHost:*',
      'mixed:InvalidHost:a*.example.test',
    ]);
  });

  it('stops at the hostname budget, oldest first, and says so on every Ingress past it', () => {
    const list = [
      view('a', 'i1', ['h1.example.test'], { created: '2024-01-01T00:00:01Z' }),
      view('a', 'i2', ['h2.example.test'], { created: '2024-01-01T00:00:02Z', tlsHosts: ['h2.example.test'] }),
      view('a', 'i3', ['h3.example.test'], { created: '2024-01-01T00:00:03Z' }),
      view('b', 'i4', ['h4.example.test'], { created: '2024-01-01T00:00:04Z' }),
    ];
    const p = planClaims({ ingresses: list, classes: [], config: config({ maxHosts: 2 }) });
    expect(p.hosts).toEqual(['h1.example.test', 'h2.example.test']);
    // h2 has TLS: an http and a tls rule for one hostname
    expect(p.rules.filter((r) => r.hostname !== undefined)).toHaveLength(3);
    expect(p.issues.map((i) => `${i.ingress.name}:${i.reason}`)).toEqual(['i3:HostLimit', 'i4:HostLimit']);
  });

  it('class: spec.ingressClassName, else the legacy annotation, else the default IngressClass; "*" takes all', () => {
    const named = view('a', 'named', ['n.example.test'], { className: 'nginx' });
    const other = view('a', 'other', ['o.example.test'], { className: 'traefik' });
    const legacy = view('a', 'legacy', ['l.example.test'], { className: null, annotations: { 'kubernetes.io/ingress.class': 'nginx' } });
    const none = view('a', 'none', ['d.example.test'], { className: null });
    const nginxDefault = toIngressClassView({ metadata: { name: 'nginx', resourceVersion: '1', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } }, spec: { controller: 'k8s.io/ingress-nginx' } });
    const nginxPlain = toIngressClassView({ metadata: { name: 'nginx', resourceVersion: '1' }, spec: {} });
    const all = [named, other, legacy, none];
    expect(planClaims({ ingresses: all, classes: [nginxDefault], config: config() }).hosts.sort()).toEqual(['d.example.test', 'l.example.test', 'n.example.test']);
    expect(planClaims({ ingresses: all, classes: [nginxPlain], config: config() }).hosts.sort()).toEqual(['l.example.test', 'n.example.test']);
    expect(planClaims({ ingresses: all, classes: [], config: config({ ingressClass: '*' }) }).hosts).toHaveLength(4);
  });

  it('namespaces: include (empty = all), then exclude', () => {
    const all = [view('a', 'x', ['a.example.test']), view('b', 'x', ['b.example.test']), view('c', 'x', ['c.example.test'])];
    expect(planClaims({ ingresses: all, classes: [], config: config({ namespaces: { include: ['a', 'b'], exclude: ['b'] } }) }).hosts).toEqual(['a.example.test']);
    expect(planClaims({ ingresses: all, classes: [], config: config({ namespaces: { include: [], exclude: ['c'] } }) }).hosts).toEqual(['a.example.test', 'b.example.test']);
  });

  it('config: defaults filled, problems named', () => {
    const c = parseKubeAgentConfig('token: abc\n');
    expect(c).toMatchObject({ ingressClass: 'nginx', controller: { host: 'ingress-nginx-controller.ingress-nginx.svc.cluster.local', httpPort: 80, tlsPort: 443 }, maxHosts: 10_000 });
    expect(() => parseKubeAgentConfig('ingressClass: nginx\n', 'agent.yaml')).toThrow(/agent\.yaml: \/token/);
    expect(() => parseKubeAgentConfig({ token: 'x', namespaces: { exclude: ['Not_A_Namespace'] } })).toThrow(/\/namespaces\/exclude\/0/);
    expect(() => parseKubeAgentConfig({ token: 'x', publicAddress: { ipv4: '999.1.1.1' } })).toThrow(/not an IPv4 address/);
  });
});

describe('ClusterIssuers (ensureClusterIssuer against the fake API)', () => {
  let api: FakeKubeApi;
  beforeAll(async () => {
    api = new FakeKubeApi({ certManager: true });
    await api.start();
  });
  afterAll(async () => {
    await api.stop();
  });
  const kube = () => createKubeApi(kubeConfigFor(api), 5_000);

  it('creates a missing one, leaves it when nothing changed, updates it when only the agent’s settings changed', async () => {
    const k = kube();
    expect(await ensureClusterIssuer(k, 'letsencrypt', { ingressClassName: 'nginx', email: 'a@example.test' }, testLogger())).toBe('created');
    expect(await ensureClusterIssuer(k, 'letsencrypt', { ingressClassName: 'nginx', email: 'a@example.test' }, testLogger())).toBe('unchanged');
    expect(await ensureClusterIssuer(k, 'letsencrypt', { ingressClassName: 'nginx', email: 'b@example.test' }, testLogger())).toBe('updated');
    expect((api.get('clusterissuers', undefined, 'letsencrypt')!.spec as any).acme.email).toBe('b@example.test');
  });

  it('never overwrites one a user changed, nor one it did not make', async () => {
    const k = kube();
    api.update('clusterissuers', undefined, 'letsencrypt', (o) => ((o.spec as any).acme.email = 'user@example.test'));
    expect(await ensureClusterIssuer(k, 'letsencrypt', { ingressClassName: 'nginx', email: 'c@example.test' }, testLogger())).toBe('user-changed');
    expect((api.get('clusterissuers', undefined, 'letsencrypt')!.spec as any).acme.email).toBe('user@example.test');
    api.create('clusterissuers', { metadata: { name: 'letsencrypt-staging' }, spec: { acme: { server: 'https://elsewhere.example/directory' } } });
    expect(await ensureClusterIssuer(k, 'letsencrypt-staging', { ingressClassName: 'nginx' }, testLogger())).toBe('not-ours');
    expect((api.get('clusterissuers', undefined, 'letsencrypt-staging')!.spec as any).acme.server).toBe('https://elsewhere.example/directory');
  });

  it('the spec hash ignores key order', () => {
    expect(specHash({ a: 1, b: { c: [1, 2], d: 'x' } })).toBe(specHash({ b: { d: 'x', c: [1, 2] }, a: 1 }));
    expect(specHash({ a: 1 })).not.toBe(specHash({ a: 2 }));
  });
});

describe('how the agent finds the API server (kubeconfig, or its service account)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-kubeconfig-'));

  it('reads the current context: server, CA and client certificate (data or files), token or token file', () => {
    writeFileSync(join(dir, 'ca.crt'), 'CA PEM');
    writeFileSync(
      join(dir, 'config'),
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: prod',
        'clusters:',
        '- {name: dev, cluster: {server: "https://dev:6443"}}',
        '- {name: prod, cluster: {server: "https://prod:6443", certificate-authority: ca.crt, tls-server-name: api.prod}}',
        'users:',
        `- {name: admin, user: {client-certificate-data: ${Buffer.from('CERT').toString('base64')}, client-key-data: ${Buffer.from('KEY').toString('base64')}, tokenFile: token}}`,
        'contexts:',
        '- {name: dev, context: {cluster: dev, user: admin}}',
        '- {name: prod, context: {cluster: prod, user: admin}}',
        '',
      ].join('\n'),
    );
    const ep = endpointFromKubeconfig(join(dir, 'config'));
    expect(ep).toMatchObject({ server: 'https://prod:6443', tlsServerName: 'api.prod', skipTLSVerify: false, tokenFile: join(dir, 'token') });
    expect(ep !== 'unsupported' && [ep.ca?.toString(), ep.cert?.toString(), ep.key?.toString()]).toEqual(['CA PEM', 'CERT', 'KEY']);
  });

  it('exec and auth-provider users are left to client-node’s KubeConfig', () => {
    writeFileSync(
      join(dir, 'exec'),
      'current-context: c\nclusters: [{name: k, cluster: {server: "https://k:443"}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n',
    );
    expect(endpointFromKubeconfig(join(dir, 'exec'))).toBe('unsupported');
  });

  it('in a pod: KUBERNETES_SERVICE_HOST/PORT, the service account CA and (re-read) token', () => {
    writeFileSync(join(dir, 'ca.crt'), 'SA CA');
    const ep = inClusterEndpoint({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, dir);
    expect(ep).toMatchObject({ server: 'https://[fd00::1]:443', tokenFile: join(dir, 'token') });
    expect(ep.ca?.toString()).toBe('SA CA');
    expect(() => inClusterEndpoint({}, dir)).toThrow(/not in a cluster/);
  });
});
