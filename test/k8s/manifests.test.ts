import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '@sluice/testing';
import { parseKubeAgentConfig } from '@sluice/k8s-agent';
import { parseDdnsConfig } from '@sluice/ddns';
import { writeGatewayCredentials, GATEWAY_SERVICES } from '@sluice/cli';
import { hasKubectl, kustomize, renderBuiltin } from './support/kustomize.ts';
import type { KubeObject } from './support/fake-kube-api.ts';

const IMAGE = 'ghcr.io/sluice-dev/sluice';
const TAG = '0.1.0';
const OPS_PORT = 9464;

type Obj = KubeObject & Record<string, any>;

/** kubernetes-models' class for an apiVersion/kind (validate() checks it against the OpenAPI schema). */
async function modelFor(apiVersion: string, kind: string): Promise<new (data: unknown) => { validate(): void }> {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const path = group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
  const mod = (await import(path)) as Record<string, new (data: unknown) => { validate(): void }>;
  const cls = mod[kind];
  if (!cls) throw new Error(`no model for ${apiVersion} ${kind}`);
  return cls;
}

function workloads(objects: Obj[]): Obj[] {
  return objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
}

/** Environment variables a service's code reads: `env.X`, `env['X']`, intEnv(env, 'X'), process.env.X. */
function envReadBy(service: string): Set<string> {
  const files = [
    ...readdirSync(join(repoRoot, 'services', service, 'src'), { recursive: true }).map((f) => join(repoRoot, 'services', service, 'src', String(f))),
    ...readdirSync(join(repoRoot, 'libs/runtime/src')).map((f) => join(repoRoot, 'libs/runtime/src', f)),
  ].filter((f) => f.endsWith('.ts'));
  const names = new Set<string>(['NODE_OPTIONS']); // read by node itself
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/env(?:\.([A-Z][A-Z0-9_]*)|\[['"]([A-Z][A-Z0-9_]*)['"]\])|Env\(\s*[a-z.]+,\s*['"]([A-Z][A-Z0-9_]*)['"]/g)) names.add((m[1] ?? m[2] ?? m[3])!);
  }
  return names;
}

for (const name of ['gateway', 'agent'] as const) {
  describe(`k8s/${name}`, () => {
    let objects: Obj[];
    let via: string;
    beforeAll(() => {
      ({ objects, via } = kustomize(join(repoRoot, 'k8s', name)) as { objects: Obj[]; via: string });
    });

    it('renders, and every object validates against the Kubernetes OpenAPI schema (kubernetes-models)', async () => {
      expect(objects.length).toBeGreaterThan(5);
      for (const o of objects) {
        const Model = await modelFor(o.apiVersion!, o.kind!);
        expect(() => new Model(o).validate(), `${o.kind}/${o.metadata.name} (rendered by ${via})`).not.toThrow();
        expect(o.metadata.labels?.['app.kubernetes.io/part-of']).toBe('sluice');
      }
      const ns = objects.filter((o) => o.kind === 'Namespace');
      expect(ns).toHaveLength(1);
      for (const o of objects) if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind!)) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(ns[0]!.metadata.name);
    });

    it('every pod: non-root, no privilege, read-only root, probes, requests and limits, its own ServiceAccount', () => {
      const accounts = new Set(objects.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata.name));
      expect(workloads(objects).length).toBeGreaterThan(0);
      for (const w of workloads(objects)) {
        const id = `${w.kind}/${w.metadata.name}`;
        const pod = w.spec.template.spec;
        expect(accounts.has(pod.serviceAccountName), `${id} serviceAccountName`).toBe(true);
        expect(pod.securityContext?.runAsNonRoot, id).toBe(true);
        expect(pod.securityContext?.runAsUser, id).toBeGreaterThan(0);
        expect(pod.securityContext?.seccompProfile?.type, id).toBe('RuntimeDefault');
        for (const c of pod.containers) {
          expect(c.securityContext, id).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
          expect(c.livenessProbe?.httpGet?.path, `${id} liveness`).toMatch(/^\/healthz/);
          expect(c.readinessProbe?.httpGet?.path, `${id} readiness`).toMatch(/^\/(readyz|healthz\?js-enabled-only=true)$/);
          for (const kind of ['requests', 'limits']) for (const r of ['cpu', 'memory']) expect(c.resources?.[kind]?.[r], `${id} ${kind}.${r}`).toBeDefined();
        }
      }
    });

    it(`Sluice containers run ${IMAGE}:${TAG}, pick their service by command, and set only variables that service reads`, () => {
      for (const w of workloads(objects)) {
        for (const c of w.spec.template.spec.containers) {
          if (!String(c.image).startsWith(IMAGE)) continue;
          const id = `${w.kind}/${w.metadata.name}`;
          expect(c.image, id).toBe(`${IMAGE}:${TAG}`);
          expect(c.command.slice(0, 3), id).toEqual(['node', '--import', 'tsx']);
          const entry = c.command[3] as string;
          const service = /^services\/([a-z0-9-]+)\/src\/main\.ts$/.exec(entry)?.[1];
          expect(service, `${id} command`).toBeDefined();
          expect(existsSync(join(repoRoot, entry)), `${id}: ${entry} exists`).toBe(true);
          const reads = envReadBy(service!);
          for (const e of c.env ?? []) expect(reads.has(e.name), `${id}: ${e.name} is read by services/${service}`).toBe(true);
          expect(c.env.find((e: { name: string }) => e.name === 'OPS_PORT')?.value, id).toBe(String(OPS_PORT));
          expect(c.env.find((e: { name: string }) => e.name === 'OPS_HOST')?.value, id).toBe('0.0.0.0');
          expect(c.ports.find((p: { name: string }) => p.name === 'ops')?.containerPort, id).toBe(OPS_PORT);
          // a read-only root: tsx's cache needs a writable /tmp
          expect(c.volumeMounts.some((m: { mountPath: string }) => m.mountPath === '/tmp'), id).toBe(true);
        }
      }
    });

    it.runIf(hasKubectl())('the builtin renderer (used where kubectl is missing) agrees with kubectl kustomize', () => {
      const key = (o: KubeObject): string => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
      const sorted = (list: KubeObject[]): KubeObject[] => [...list].sort((a, b) => key(a).localeCompare(key(b)));
      expect(sorted(renderBuiltin(join(repoRoot, 'k8s', name)))).toEqual(sorted(objects));
    });
  });
}

describe('manifest validation', () => {
  it('has teeth: a wrong type or a missing required field is caught', async () => {
    const Deployment = await modelFor('apps/v1', 'Deployment');
    const good = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { selector: {}, template: { spec: { containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 80 }] }] } } } };
    expect(() => new Deployment(good).validate()).not.toThrow();
    const badPort = structuredClone(good);
    (badPort.spec.template.spec.containers[0]!.ports[0] as any).containerPort = '80';
    expect(() => new Deployment(badPort).validate()).toThrow(/containerPort must be integer/);
    const noImage = structuredClone(good);
    delete (noImage.spec.template.spec.containers[0] as any).name;
    expect(() => new Deployment(noImage).validate()).toThrow(/name/);
  });
});

describe('k8s/gateway specifics', () => {
  let objects: Obj[];
  beforeAll(() => {
    objects = kustomize(join(repoRoot, 'k8s/gateway')).objects as Obj[];
  });
  const get = (kind: string, name: string): Obj => {
    const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
    if (!o) throw new Error(`${kind}/${name} not rendered`);
    return o;
  };

  it('NATS: a StatefulSet of three with JetStream on persistent volumes, a configuration nats-server accepts', () => {
    const sts = get('StatefulSet', 'nats');
    expect(sts.spec.replicas).toBe(3);
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBeDefined();
    expect(sts.spec.template.spec.containers[0].volumeMounts).toContainEqual({ name: 'data', mountPath: '/data' });
    const conf = get('ConfigMap', 'nats-config').data['nats.conf'] as string;
    expect(conf).toMatch(/jetstream\s*{[^}]*store_dir: \/data\/jetstream/);
    for (let i = 0; i < 3; i++) expect(conf).toContain(`nats://nats-${i}.nats-headless:6222`);
    expect(conf).not.toMatch(/token/);
  });

  it('NATS in operator mode: the configuration, with the auth block `sluice gateway credentials` writes, is one nats-server accepts', async () => {
    const sts = get('StatefulSet', 'nats');
    const c = sts.spec.template.spec.containers[0];
    const conf = get('ConfigMap', 'nats-config').data['nats.conf'] as string;
    // mounted as the pod has them: the ConfigMap and the Secret side by side
    const configDir = c.volumeMounts.find((m: { name: string }) => m.name === 'config').mountPath as string;
    const authDir = c.volumeMounts.find((m: { name: string }) => m.name === 'auth').mountPath as string;
    const authSecret = sts.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'auth').secret.secretName;
    expect(authSecret).toBe('sluice-nats-operator');
    expect(c.args).toEqual(['--config', `${configDir}/nats.conf`]);
    const root = mkdtempSync(join(tmpdir(), 'nats-conf-'));
    const files = await writeGatewayCredentials(join(root, authDir), join(root, 'data/jwt'));
    mkdirSync(join(root, configDir), { recursive: true });
    writeFileSync(join(root, configDir, 'nats.conf'), conf.replace('/data/jetstream', join(root, 'data/jetstream')));
    expect(readFileSync(files.natsAuthConf, 'utf8')).toMatch(/^operator: /);
    const bin = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';
    const r = spawnSync(bin, ['-t', '-c', join(root, configDir, 'nats.conf')], { encoding: 'utf8', env: { ...process.env, POD_NAME: 'nats-0' }, timeout: 10_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr + r.stdout).toMatch(/is valid/);
  });

  it('every service connects with its own credentials, from the files `sluice gateway credentials` writes', async () => {
    const root = mkdtempSync(join(tmpdir(), 'gw-creds-'));
    const files = await writeGatewayCredentials(root);
    const written = new Set(readdirSync(root));
    for (const name of GATEWAY_SERVICES) {
      const d = get('Deployment', name).spec.template.spec;
      const c = d.containers[0];
      const env = (n: string) => c.env.find((e: { name: string }) => e.name === n)?.value as string | undefined;
      expect(c.env.some((e: { name: string }) => e.name === 'NATS_TOKEN'), name).toBe(false);
      const credsPath = env('NATS_CREDS')!;
      expect(credsPath, name).toBe(`/etc/sluice-nats/${name}.creds`);
      const vol = d.volumes.find((v: any) => v.secret?.secretName === 'sluice-service-creds');
      expect(vol.secret.items, name).toEqual([{ key: `${name}.creds`, path: `${name}.creds` }]);
      expect(written.has(`${name}.creds`), name).toBe(true);
      expect(c.volumeMounts.find((m: { name: string }) => m.name === vol.name).mountPath, name).toBe('/etc/sluice-nats');
      // root-owned 0440 files that the pod's group (and no one else) reads
      expect(vol.secret.defaultMode, name).toBe(0o440);
      expect(d.securityContext.fsGroup, name).toBe(d.securityContext.runAsGroup);
    }
    const reg = get('Deployment', 'registry').spec.template.spec;
    const regEnv = (n: string) => reg.containers[0].env.find((e: { name: string }) => e.name === n)?.value as string;
    const trustVol = reg.volumes.find((v: any) => v.secret?.secretName === 'sluice-registry-trust');
    const trustMount = reg.containers[0].volumeMounts.find((m: { name: string }) => m.name === trustVol.name).mountPath;
    expect(regEnv('REGISTRY_TRUST_FILE')).toBe(`${trustMount}/trust.json`);
    expect(regEnv('NATS_SYSTEM_CREDS')).toBe(`${trustMount}/system.creds`);
    expect([files.trustFile, files.systemCreds].map((f) => f.slice(root.length + 1))).toEqual(['trust.json', 'system.creds']);
  });

  it('edge: several replicas behind a LoadBalancer on 80 and 443; ddns: a LoadBalancer on 53 UDP and TCP', () => {
    expect(get('Deployment', 'edge').spec.replicas).toBeGreaterThan(1);
    const edge = get('Service', 'edge').spec;
    expect(edge.type).toBe('LoadBalancer');
    expect(edge.ports.map((p: any) => `${p.port}/${p.protocol}`).sort()).toEqual(['443/TCP', '80/TCP']);
    const ddns = get('Service', 'ddns').spec;
    expect(ddns.type).toBe('LoadBalancer');
    expect(ddns.ports.map((p: any) => `${p.port}/${p.protocol}`).sort()).toEqual(['53/TCP', '53/UDP']);
    for (const name of ['router', 'registry', 'ddns']) expect(get('Deployment', name).spec.template.spec.containers[0].command[3]).toBe(`services/${name}/src/main.ts`);
  });

  it('least privilege: no gateway service may call the Kubernetes API (no roles, no mounted tokens)', () => {
    expect(objects.filter((o) => /Role/.test(o.kind!))).toEqual([]);
    for (const sa of objects.filter((o) => o.kind === 'ServiceAccount')) expect(sa.automountServiceAccountToken).toBe(false);
    for (const w of workloads(objects)) expect(w.spec.template.spec.automountServiceAccountToken).toBe(false);
  });

  it('the ddns configuration parses with the ddns service’s own parser', () => {
    const cfg = parseDdnsConfig(get('ConfigMap', 'sluice-ddns-config').data['ddns.yaml'] as string, 'sluice-ddns-config');
    expect(cfg.port).toBe(5353);
    expect(get('Deployment', 'ddns').spec.template.spec.containers[0].ports.map((p: any) => p.containerPort)).toContain(cfg.port);
  });
});

describe('k8s/agent specifics', () => {
  let objects: Obj[];
  beforeAll(() => {
    objects = kustomize(join(repoRoot, 'k8s/agent')).objects as Obj[];
  });

  it('RBAC: exactly get/list/watch Ingresses and IngressClasses, write Ingress status, create Events, get/create/update ClusterIssuers', () => {
    const role = objects.find((o) => o.kind === 'ClusterRole')!;
    const grants = new Set<string>();
    for (const r of role.rules) for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) grants.add(`${g || 'core'}/${res}:${v}`);
    expect([...grants].sort()).toEqual(
      [
        'networking.k8s.io/ingresses:get',
        'networking.k8s.io/ingresses:list',
        'networking.k8s.io/ingresses:watch',
        'networking.k8s.io/ingressclasses:get',
        'networking.k8s.io/ingressclasses:list',
        'networking.k8s.io/ingressclasses:watch',
        'networking.k8s.io/ingresses/status:update',
        'networking.k8s.io/ingresses/status:patch',
        'core/events:create',
        'cert-manager.io/clusterissuers:get',
        'cert-manager.io/clusterissuers:create',
        'cert-manager.io/clusterissuers:update',
      ].sort(),
    );
    const binding = objects.find((o) => o.kind === 'ClusterRoleBinding')!;
    const sa = objects.find((o) => o.kind === 'ServiceAccount')!;
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
    const deploy = objects.find((o) => o.kind === 'Deployment')!;
    expect(deploy.spec.template.spec.serviceAccountName).toBe(sa.metadata.name);
    expect(deploy.spec.strategy.type).toBe('Recreate');
  });

  it('its configuration parses with the agent’s own parser; the token comes from a Secret', () => {
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'sluice-agent-config')!;
    const cfg = parseKubeAgentConfig({ ...(parseYaml(cm.data['agent.yaml'] as string) as object), token: 'from-the-secret' }, 'sluice-agent-config');
    expect(cfg.controller).toEqual({ host: 'ingress-nginx-controller.ingress-nginx.svc.cluster.local', httpPort: 80, tlsPort: 443 });
    expect(cfg.ingressClass).toBe('nginx');
    const env = objects.find((o) => o.kind === 'Deployment')!.spec.template.spec.containers[0].env as Array<{ name: string; valueFrom?: any }>;
    expect(env.find((e) => e.name === 'SLUICE_AGENT_TOKEN')?.valueFrom?.secretKeyRef?.name).toBe('sluice-agent-credentials');
  });
});

describe('k8s/operator (developer mode)', () => {
  let objects: Obj[];
  let via: string;
  beforeAll(() => {
    ({ objects, via } = kustomize(join(repoRoot, 'k8s/operator')) as { objects: Obj[]; via: string });
  });
  const get = (kind: string, name: string, namespace?: string): Obj => {
    const o = objects.find((x) => x.kind === kind && x.metadata.name === name && (namespace === undefined || x.metadata.namespace === namespace));
    if (!o) throw new Error(`${kind}/${name} not rendered`);
    return o;
  };
  const operatorConfig = async () => {
    const { parseOperatorConfig } = await import('@sluice/operator');
    return parseOperatorConfig(get('ConfigMap', 'sluice-operator-config').data['operator.yaml'] as string, 'sluice-operator-config');
  };

  /** What every Sluice pod is (as the gateway's and the agent's): the same checks, for one pod template. */
  const expectHardened = (id: string, pod: any, accounts?: Set<string>): void => {
    if (accounts) expect(accounts.has(pod.serviceAccountName), `${id} serviceAccountName`).toBe(true);
    expect(pod.securityContext?.runAsNonRoot, id).toBe(true);
    expect(pod.securityContext?.runAsUser, id).toBeGreaterThan(0);
    expect(pod.securityContext?.seccompProfile?.type, id).toBe('RuntimeDefault');
    for (const c of pod.containers) {
      expect(c.securityContext, id).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(c.livenessProbe?.httpGet?.path, `${id} liveness`).toMatch(/^\/healthz/);
      expect(c.readinessProbe?.httpGet?.path, `${id} readiness`).toBe('/readyz');
      for (const kind of ['requests', 'limits']) for (const r of ['cpu', 'memory']) expect(c.resources?.[kind]?.[r], `${id} ${kind}.${r}`).toBeDefined();
      expect(c.image, id).toBe(`${IMAGE}:${TAG}`);
      expect(c.command.slice(0, 3), id).toEqual(['node', '--import', 'tsx']);
      const service = /^services\/([a-z0-9-]+)\/src\/main\.ts$/.exec(c.command[3])?.[1];
      expect(existsSync(join(repoRoot, c.command[3])), `${id}: ${c.command[3]} exists`).toBe(true);
      const reads = envReadBy(service!);
      for (const e of c.env ?? []) expect(reads.has(e.name), `${id}: ${e.name} is read by services/${service}`).toBe(true);
      expect(c.env.find((e: { name: string }) => e.name === 'OPS_HOST')?.value, id).toBe('0.0.0.0');
      expect(c.ports.find((p: { name: string }) => p.name === 'ops')?.containerPort, id).toBe(Number(c.env.find((e: { name: string }) => e.name === 'OPS_PORT')?.value));
      expect(c.volumeMounts.some((m: { mountPath: string }) => m.mountPath === '/tmp'), id).toBe(true);
    }
    // binding ports below 1024 needs no capability: only the safe sysctl
    expect(pod.securityContext?.sysctls ?? [], id).toEqual([{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }]);
  };

  it('renders, and every object (the CRD included) validates against the Kubernetes OpenAPI schemas (kubernetes-models)', async () => {
    const kinds = objects.map((o) => o.kind).sort();
    expect(kinds).toEqual(['ClusterRole', 'ClusterRole', 'ConfigMap', 'CustomResourceDefinition', 'Deployment', 'Namespace', 'NetworkPolicy', 'NetworkPolicy', 'NetworkPolicy', 'NetworkPolicy', 'RoleBinding', 'Service', 'ServiceAccount']);
    for (const o of objects) {
      const Model = await modelFor(o.apiVersion!, o.kind!);
      expect(() => new Model(o).validate(), `${o.kind}/${o.metadata.name} (rendered by ${via})`).not.toThrow();
      expect(o.metadata.labels?.['app.kubernetes.io/part-of']).toBe('sluice');
    }
    // the validation has teeth for the CRD too
    const CRD = await modelFor('apiextensions.k8s.io/v1', 'CustomResourceDefinition');
    const broken = structuredClone(get('CustomResourceDefinition', 'intercepts.sluice.dev'));
    broken.spec.versions[0].served = 'yes';
    expect(() => new CRD(broken).validate()).toThrow(/served/);
  });

  it.runIf(hasKubectl())('the builtin renderer agrees with kubectl kustomize', () => {
    const key = (o: KubeObject): string => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const sorted = (list: KubeObject[]): KubeObject[] => [...list].sort((a, b) => key(a).localeCompare(key(b)));
    expect(sorted(renderBuiltin(join(repoRoot, 'k8s/operator')))).toEqual(sorted(objects));
  });

  it('the operator: its own namespace, a hardened pod running services/operator, the API on 80 and 8083 (Service and container alike)', async () => {
    const ns = get('Namespace', 'sluice-dev');
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const deploy = get('Deployment', 'sluice-operator', 'sluice-dev');
    const accounts = new Set(objects.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata.name));
    const pod = deploy.spec.template.spec;
    expectHardened('Deployment/sluice-operator', pod, accounts);
    expect(deploy.spec.strategy.type).toBe('Recreate');
    expect(deploy.spec.replicas).toBe(1);
    expect(pod.containers[0].command[3]).toBe('services/operator/src/main.ts');
    expect(deploy.spec.template.metadata.labels['sluice.dev/app']).toBe('tunnel-operator');
    const svc = get('Service', 'sluice-operator', 'sluice-dev');
    expect(svc.spec.selector).toEqual({ 'sluice.dev/app': 'tunnel-operator' });
    const containerPorts = new Map<string, number>(pod.containers[0].ports.map((p: any) => [p.name, p.containerPort]));
    expect(svc.spec.ports.map((p: any) => [p.port, containerPorts.get(p.targetPort), p.protocol])).toEqual([[80, 80, 'TCP'], [8083, 8083, 'TCP']]);
    const cfg = await operatorConfig();
    expect(cfg.api.ports).toEqual([80, 8083]);
    expect(cfg.heartbeatTimeoutMs).toBe(15_000);
    expect(new URL(cfg.tunnel.operatorUrl).hostname).toBe('sluice-operator.sluice-dev.svc.cluster.local');
  });

  it('RBAC: Intercepts, Services and Deployments, granted only in the served namespaces; a developer role for the CLI', async () => {
    const grants = (role: Obj): string[] => {
      const out = new Set<string>();
      for (const r of role.rules) for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.add(`${g || 'core'}/${res}:${v}`);
      return [...out].sort();
    };
    expect(grants(get('ClusterRole', 'sluice-operator'))).toEqual(
      [
        'sluice.dev/intercepts:get', 'sluice.dev/intercepts:list', 'sluice.dev/intercepts:watch', 'sluice.dev/intercepts:update',
        'sluice.dev/intercepts/status:get', 'sluice.dev/intercepts/status:update', 'sluice.dev/intercepts/status:patch',
        'sluice.dev/intercepts/finalizers:update',
        'core/services:get', 'core/services:list', 'core/services:watch', 'core/services:update',
        'apps/deployments:get', 'apps/deployments:list', 'apps/deployments:watch', 'apps/deployments:create', 'apps/deployments:update', 'apps/deployments:delete',
      ].sort(),
    );
    expect(grants(get('ClusterRole', 'sluice-developer'))).toEqual(['core/services:get', ...['create', 'delete', 'get', 'list', 'update', 'watch'].map((v) => `sluice.dev/intercepts:${v}`)].sort());
    // nothing cluster-wide: one RoleBinding per served namespace, to the operator's ServiceAccount
    expect(objects.filter((o) => o.kind === 'ClusterRoleBinding')).toEqual([]);
    const cfg = await operatorConfig();
    const bindings = objects.filter((o) => o.kind === 'RoleBinding');
    expect(bindings.map((b) => b.metadata.namespace).sort()).toEqual([...cfg.namespaces].sort());
    for (const b of bindings) {
      expect(b.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'sluice-operator' });
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: 'sluice-operator', namespace: 'sluice-dev' }]);
    }
    expect(get('Deployment', 'sluice-operator').spec.template.spec.serviceAccountName).toBe('sluice-operator');
  });

  it('NetworkPolicies under default deny: tunnel pods reach the operator’s namespace on TCP 80 and 8083; the operator’s pods take those ports from each served namespace', async () => {
    const cfg = await operatorConfig();
    const tcp = (ports: any[]): string[] => ports.map((p) => `${p.protocol}/${p.port}`).sort();
    for (const namespace of cfg.namespaces) {
      const egress = get('NetworkPolicy', 'sluice-tunnel-egress', namespace);
      expect(egress.spec.podSelector).toEqual({ matchLabels: { 'sluice.dev/app': 'tunnel' } });
      expect(egress.spec.policyTypes).toEqual(['Egress']);
      const toOperator = egress.spec.egress.find((r: any) => r.to?.some((t: any) => t.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'sluice-dev'));
      expect(toOperator.to).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'sluice-dev' } }, podSelector: { matchLabels: { 'sluice.dev/app': 'tunnel-operator' } } }]);
      expect(tcp(toOperator.ports)).toEqual(['TCP/80', 'TCP/8083']);
      const ingress = get('NetworkPolicy', 'sluice-tunnel-ingress', namespace);
      expect(ingress.spec.podSelector).toEqual({ matchLabels: { 'sluice.dev/app': 'tunnel' } });
    }
    const toOperator = get('NetworkPolicy', 'sluice-operator-ingress', 'sluice-dev');
    expect(toOperator.spec.podSelector).toEqual({ matchLabels: { 'sluice.dev/app': 'tunnel-operator' } });
    expect(toOperator.spec.policyTypes).toEqual(['Ingress']);
    expect(toOperator.spec.ingress).toHaveLength(1);
    const rule = toOperator.spec.ingress[0];
    expect(rule.from).toEqual([
      { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: cfg.namespaces }] }, podSelector: { matchLabels: { 'sluice.dev/app': 'tunnel' } } },
    ]);
    expect(tcp(rule.ports)).toEqual(['TCP/80', 'TCP/8083']);
    // the operator's own way out: DNS, the API server, NATS
    const out = get('NetworkPolicy', 'sluice-operator-egress', 'sluice-dev');
    expect(out.spec.egress.flatMap((r: any) => tcp(r.ports)).sort()).toEqual(['TCP/4222', 'TCP/443', 'TCP/53', 'TCP/6443', 'UDP/53']);
  });

  it('the tunnel pod the operator writes: validates, hardened, carries the labels the policies select, sets only variables services/tunnel reads', async () => {
    const { tunnelDeployment } = await import('@sluice/operator');
    const cfg = await operatorConfig();
    const intercept = { apiVersion: 'sluice.dev/v1alpha1', kind: 'Intercept', metadata: { name: 'checkout', namespace: 'shop', uid: '6a1f0e0c-0000-4000-8000-000000000001' }, spec: { service: 'checkout', port: 80, hostname: 'i-x.dev-checkout-shop.alice.eu.tunnel.example', agentId: 'a1b2c3', holder: 'alice' } };
    for (const targetPort of [80, 'http'] as const) {
      const dep = tunnelDeployment({ intercept: intercept as never, tunnelId: 'tunnel1', token: 'a'.repeat(43), targetPort }, cfg) as unknown as Obj;
      const Model = await modelFor('apps/v1', 'Deployment');
      expect(() => new Model(dep).validate()).not.toThrow();
      const pod = dep.spec.template.spec;
      expectHardened(`tunnel Deployment (targetPort ${targetPort})`, pod);
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(pod.containers[0].command[3]).toBe('services/tunnel/src/main.ts');
      expect(dep.spec.template.metadata.labels).toMatchObject({ 'sluice.dev/app': 'tunnel', 'sluice.dev/tunnel-id': 'tunnel1', 'sluice.dev/intercept': 'checkout' });
      expect(dep.spec.selector.matchLabels).toEqual({ 'sluice.dev/app': 'tunnel', 'sluice.dev/tunnel-id': 'tunnel1' });
      expect(dep.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Intercept', name: 'checkout', controller: true })]);
      const listen = pod.containers[0].ports[0];
      expect(listen).toEqual(typeof targetPort === 'number' ? { name: 'intercepted', containerPort: 80, protocol: 'TCP' } : { name: 'http', containerPort: 8080, protocol: 'TCP' });
      const env = new Map(pod.containers[0].env.map((e: any) => [e.name, e.value]));
      expect(env.get('TUNNEL_LISTEN_PORT')).toBe(String(listen.containerPort));
      expect(env.get('TUNNEL_OPERATOR_URL')).toBe(cfg.tunnel.operatorUrl);
      expect(pod.volumes.find((v: any) => v.name === 'creds')?.secret?.secretName).toBe(cfg.tunnel.natsCredsSecret);
    }
  });

  it('the CRD’s schema is the contracts’ (libs/contracts/src/dev.ts: InterceptSpec, InterceptStatus)', async () => {
    const { InterceptSpec, InterceptStatus } = await import('@sluice/contracts');
    const crd = get('CustomResourceDefinition', 'intercepts.sluice.dev');
    expect(crd.spec.group).toBe('sluice.dev');
    expect(crd.spec.names).toMatchObject({ kind: 'Intercept', plural: 'intercepts' });
    expect(crd.spec.scope).toBe('Namespaced');
    const version = crd.spec.versions.find((v: any) => v.storage);
    expect(version.name).toBe('v1alpha1');
    expect(version.subresources).toEqual({ status: {} });
    const schema = version.schema.openAPIV3Schema.properties;
    /** Mismatches between a JSON schema from TypeBox and its structural OpenAPI counterpart. */
    const diff = (tb: any, oa: any, at: string): string[] => {
      if (tb.anyOf?.every((a: any) => a.const !== undefined)) return JSON.stringify(oa.enum) === JSON.stringify(tb.anyOf.map((a: any) => a.const)) ? [] : [`${at}: enum ${JSON.stringify(oa.enum)}`];
      if (tb.anyOf) return oa['x-kubernetes-int-or-string'] === true ? [] : [`${at}: expected int-or-string`];
      if (tb.type !== oa.type) return [`${at}: type ${oa.type}, contracts ${tb.type}`];
      const out: string[] = [];
      for (const k of ['pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'maxProperties']) if (tb[k] !== oa[k]) out.push(`${at}: ${k} ${oa[k]}, contracts ${tb[k]}`);
      if (tb.type === 'object' && tb.patternProperties) return [...out, ...diff(Object.values(tb.patternProperties)[0], oa.additionalProperties, `${at}/*`)];
      if (tb.type === 'object') {
        if (JSON.stringify([...(tb.required ?? [])].sort()) !== JSON.stringify([...(oa.required ?? [])].sort())) out.push(`${at}: required ${oa.required}, contracts ${tb.required}`);
        const keys = [...new Set([...Object.keys(tb.properties), ...Object.keys(oa.properties)])];
        for (const k of keys) {
          if (!tb.properties[k] || !oa.properties[k]) out.push(`${at}/${k}: only in ${tb.properties[k] ? 'the contracts' : 'the CRD'}`);
          else out.push(...diff(tb.properties[k], oa.properties[k], `${at}/${k}`));
        }
      }
      return out;
    };
    expect(diff(InterceptSpec, schema.spec, 'spec')).toEqual([]);
    expect(diff(InterceptStatus, schema.status, 'status')).toEqual([]);
  });
});
