// No Docker engine runs where the tests run, so docker-compose.yml is checked the way a reviewer
// would: Compose itself validates it (`docker-compose config`), and every file, command, port and
// name it refers to is checked against the repository and against the other configuration files.
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { builtinModules } from 'node:module';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '@sluice/testing';
import { parseRegistryConfig, covers } from '@sluice/registry';
import { parseAgentConfig } from '@sluice/agent';
import { parseDdnsConfig } from '@sluice/ddns';

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | null>;
  volumes?: Array<string | { type: string; source?: string; target: string }>;
  ports?: Array<string | { published?: number | string; target: number; protocol?: string }>;
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] | string };
  user?: string;
}
interface ComposeModel {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const IMAGE = 'sluice:dev';
const OPS_PORT = '9464';

/** `docker-compose config` (Debian's package), else the `docker compose` plugin's: the file validated and resolved. */
function composeConfig(): string {
  const args = ['-f', join(repoRoot, 'docker-compose.yml'), 'config'];
  // the defaults of the published ports, whatever this shell has set
  const env = { ...process.env, SLUICE_HTTP_PORT: '', SLUICE_TLS_PORT: '', SLUICE_DNS_PORT: '' };
  let r = spawnSync('docker-compose', args, { cwd: repoRoot, encoding: 'utf8', env });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') r = spawnSync('docker', ['compose', ...args], { cwd: repoRoot, encoding: 'utf8', env });
  if (r.error || r.status !== 0) {
    throw new Error(`docker-compose config failed (${r.error?.message ?? `exit ${String(r.status)}`}): ${r.stderr}\nwithout docker-compose, run \`node scripts/ensure-deps.mjs docker-compose\` (npm test does)`);
  }
  return r.stdout;
}

const read = (rel: string): string => readFileSync(join(repoRoot, rel), 'utf8');
const yamlFile = <T>(rel: string): T => parseYaml(read(rel)) as T;

/** host path → container path of a service's bind mounts (both Compose's short and long syntax). */
function bindMounts(svc: ComposeService): Array<{ source: string; target: string }> {
  const out: Array<{ source: string; target: string }> = [];
  for (const v of svc.volumes ?? []) {
    if (typeof v === 'string') {
      const [source, target] = v.split(':');
      if (source && target && (source.startsWith('/') || source.startsWith('.'))) out.push({ source: resolve(repoRoot, source), target });
    } else if (v.type === 'bind' && v.source) out.push({ source: resolve(repoRoot, v.source), target: v.target });
  }
  return out;
}

/** Where a container path comes from on the host, through the service's bind mounts. */
function hostPathOf(svc: ComposeService, containerPath: string): string | undefined {
  for (const m of bindMounts(svc)) {
    if (containerPath === m.target) return m.source;
    if (containerPath.startsWith(m.target + '/')) return join(m.source, containerPath.slice(m.target.length + 1));
  }
  return undefined;
}

const hostPort = (url: string): { host: string; port: string } => {
  const u = new URL(url.includes('://') ? url : `tcp://${url}`);
  return { host: u.hostname, port: u.port };
};

/** Bare package names a module graph imports at run time, starting from `entries` (type-only imports excluded). */
function runtimePackages(entries: string[]): Map<string, string> {
  const workspaces = new Map<string, string>(); // @sluice/x → its src/index.ts
  for (const dir of ['libs', 'services']) {
    for (const name of readdirSync(join(repoRoot, dir))) {
      const pkgPath = join(repoRoot, dir, name, 'package.json');
      if (!existsSync(pkgPath)) continue;
      const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { name: string; exports?: { '.': string } };
      if (pkg.exports?.['.']) workspaces.set(pkg.name, join(repoRoot, dir, name, pkg.exports['.']));
    }
  }
  const found = new Map<string, string>(); // package → a file that imports it
  const seen = new Set<string>();
  const queue = entries.map((e) => join(repoRoot, e));
  const specifier = /(?:^|\n)\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(specifier)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec));
      else if (spec.startsWith('node:') || builtinModules.includes(spec)) continue;
      else if (workspaces.has(spec)) queue.push(workspaces.get(spec)!);
      else {
        const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!found.has(pkg)) found.set(pkg, relative(repoRoot, file));
      }
    }
  }
  return found;
}

describe('docker-compose.yml', () => {
  let model: ComposeModel;
  let sluiceServices: Array<[string, ComposeService]>;

  beforeAll(() => {
    // validated against Compose's schema and printed resolved: anchors merged, paths absolute
    model = parseYaml(composeConfig()) as ComposeModel;
    sluiceServices = Object.entries(model.services).filter(([, s]) => s.image === IMAGE);
  });

  it('starts the gateway, the demo and the observability stack', () => {
    expect(Object.keys(model.services).sort()).toEqual(['agent', 'ddns', 'demo', 'edge', 'grafana', 'nats', 'otel-collector', 'prometheus', 'registry', 'router', 'tempo', 'tempo-init'].sort());
    expect(sluiceServices.map(([n]) => n).sort()).toEqual(['agent', 'ddns', 'demo', 'edge', 'registry', 'router']);
    // the edge is published on 8080/8443 by default, ddns on 5353 over UDP and TCP
    const published = (name: string): string[] =>
      (model.services[name]!.ports ?? []).map((p) => (typeof p === 'string' ? p : `${String(p.published)}:${p.target}/${p.protocol ?? 'tcp'}`));
    expect(published('edge').join(' ')).toMatch(/8080:80\b.*8443:443\b/);
    expect(published('ddns').join(' ')).toMatch(/5353:5353\/udp.*5353:5353\/tcp/);
    expect(model.services.nats!.command).toContain('--jetstream');
    expect(model.volumes).toHaveProperty('nats-data');
  });

  it('builds every Sluice service from one Dockerfile that exists, and runs entries that exist in the image', () => {
    const dockerignore = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const ignored = (rel: string): boolean =>
      dockerignore.some((p) => new RegExp(`^${p.replace(/\*\*\//g, '(.*/)?').replace(/\*/g, '[^/]*')}(/|$)`).test(rel));
    for (const [name, svc] of sluiceServices) {
      expect(svc.build, name).toBeDefined();
      const context = resolve(repoRoot, svc.build!.context);
      expect(statSync(context).isDirectory(), name).toBe(true);
      expect(existsSync(join(context, svc.build!.dockerfile ?? 'Dockerfile')), name).toBe(true);
      const entry = svc.command?.[0];
      expect(entry, name).toMatch(/^services\/[a-z0-9-]+\/src\/main\.ts$/);
      expect(existsSync(join(repoRoot, entry!)), `${name}: ${entry} is missing`).toBe(true);
      expect(ignored(entry!), `${name}: ${entry} is excluded by .dockerignore`).toBe(false);
    }
  });

  it('mounts only files that exist, and every config path a service is given is mounted', () => {
    for (const [name, svc] of Object.entries(model.services)) {
      for (const m of bindMounts(svc)) expect(existsSync(m.source), `${name}: ${m.source}`).toBe(true);
      for (const [key, value] of Object.entries(svc.environment ?? {})) {
        if (typeof value === 'string' && value.startsWith('/etc/')) {
          const host = hostPathOf(svc, value);
          expect(host && existsSync(host), `${name}: ${key}=${value} is not a mounted file`).toBe(true);
        }
      }
      for (const arg of svc.command ?? []) {
        const path = /^--?config[.-]?file=(.+)$|^--config=(.+)$/.exec(arg);
        if (path) expect(existsSync(hostPathOf(svc, (path[1] ?? path[2])!) ?? ''), `${name}: ${arg}`).toBe(true);
      }
    }
  });

  it('orders start-up with health checks on what others wait for', () => {
    for (const [name, svc] of Object.entries(model.services)) {
      const deps = Array.isArray(svc.depends_on) ? Object.fromEntries(svc.depends_on.map((d) => [d, { condition: 'service_started' }])) : (svc.depends_on ?? {});
      for (const [dep, { condition }] of Object.entries(deps)) {
        expect(model.services[dep], `${name} depends on unknown ${dep}`).toBeDefined();
        if (condition === 'service_healthy') expect(model.services[dep]!.healthcheck, `${name} waits for ${dep} to be healthy, which has no health check`).toBeDefined();
      }
    }
    for (const n of ['registry', 'router', 'edge', 'ddns', 'agent']) {
      const deps = model.services[n]!.depends_on as Record<string, { condition: string }>;
      expect(deps.nats?.condition, n).toBe('service_healthy');
      // the Sluice services answer /readyz on the ops port the image sets
      expect(JSON.stringify(model.services[n]!.healthcheck?.test), n).toContain(`127.0.0.1:${OPS_PORT}/readyz`);
    }
    expect((model.services.agent!.depends_on as Record<string, unknown>)).toHaveProperty('demo');
    expect((model.services.edge!.depends_on as Record<string, unknown>)).toHaveProperty('router');
  });

  it('gives the services configuration their own parsers accept, pointing at services that exist', () => {
    const registry = parseRegistryConfig(read('deploy/sluice/registry.yaml'), 'deploy/sluice/registry.yaml');
    const agent = parseAgentConfig(read('deploy/sluice/agent.yaml'), 'deploy/sluice/agent.yaml');
    const owner = registry.agents.find((a) => a.token === agent.token);
    expect(owner?.id).toBe(agent.agentId);
    for (const rule of agent.ingress) {
      if (rule.hostname) expect(owner!.hostnames.some((h) => covers(h, rule.hostname!)), rule.hostname).toBe(true);
      const { host, port } = hostPort(rule.service);
      expect(model.services[host], rule.service).toBeDefined();
      const demoEnv = model.services[host]!.environment ?? {};
      expect([demoEnv.DEMO_HTTP_PORT, demoEnv.DEMO_HTTPS_PORT], rule.service).toContain(port);
    }
    expect(hostPort(agent.nats as string).host).toBe('nats');
    // the URLs the registry hands out name the ports the edge is published on
    expect(registry.publicHttpPort).toBe(8080);
    expect(registry.publicTlsPort).toBe(8443);
    const ddns = parseDdnsConfig(read('deploy/sluice/ddns.yaml'), 'deploy/sluice/ddns.yaml');
    expect(ddns.port).toBe(5353);
    expect(ddns.host).toBe('0.0.0.0');
    expect(ddns.tunnelZone).toBe(registry.zone);
  });

  it('installs every package the services import at run time as a production dependency', () => {
    // `npm ci --omit=dev` installs the root's and the workspaces' dependencies, and no devDependencies
    const manifests = ['package.json', ...['libs', 'services'].flatMap((d) => readdirSync(join(repoRoot, d)).map((n) => `${d}/${n}/package.json`))].filter((m) => existsSync(join(repoRoot, m)));
    const production = new Set(manifests.flatMap((m) => Object.keys((JSON.parse(read(m)) as { dependencies?: Record<string, string> }).dependencies ?? {})));
    // loaded only inside a function no service calls: libs/testing starts nats-server in a container on request
    const notAtRunTime = new Set(['testcontainers']);
    const used = runtimePackages(sluiceServices.map(([, s]) => s.command![0]!));
    expect(used.size).toBeGreaterThan(5);
    expect(used.has('@opentelemetry/sdk-node')).toBe(true);
    const missing = [...used].filter(([name]) => !production.has(name) && !notAtRunTime.has(name)).map(([name, from]) => `${name} (imported by ${from})`);
    expect(missing).toEqual([]);
    // the image's entry point runs the sources through tsx, so tsx is a production dependency too
    expect(read('Dockerfile')).toMatch(/ENTRYPOINT \["node", "--import", "tsx"\]/);
    expect(production.has('tsx')).toBe(true);
  });

  it('has a Dockerfile whose runtime stage runs as an unprivileged user and copies only what exists', () => {
    const lines = read('Dockerfile').split('\n');
    const stages = lines.map((l, i) => [l, i] as const).filter(([l]) => /^FROM /.test(l));
    const last = stages.at(-1)![1];
    const user = lines.slice(last).find((l) => /^USER /.test(l));
    expect(user).toBeDefined();
    expect(user!.split(/\s+/)[1]).not.toMatch(/^(root|0)(:|$)/);
    for (const l of lines.filter((x) => /^COPY /.test(x) && !/--from=/.test(x))) {
      const sources = l.replace(/^COPY\s+(--\S+\s+)*/, '').split(/\s+/).slice(0, -1);
      for (const s of sources) expect(existsSync(join(repoRoot, s)), `Dockerfile: ${l}`).toBe(true);
    }
    expect(read('Dockerfile')).toContain(`OPS_PORT=${OPS_PORT}`);
  });

  it('scrapes every Sluice service in Prometheus and sends every service’s traces through the collector to Tempo', () => {
    const prom = yamlFile<{ scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }> }>('deploy/prometheus/prometheus.yml');
    const targets = prom.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
    const withOps = sluiceServices.filter(([n]) => n !== 'demo').map(([n]) => `${n}:${OPS_PORT}`);
    expect(targets.sort()).toEqual(withOps.sort());
    expect(model.services.prometheus!.volumes?.map(String).join(' ')).toContain('deploy/prometheus/prometheus.yml');

    const collector = yamlFile<{ receivers: { otlp: { protocols: { http: { endpoint: string }; grpc: { endpoint: string } } } }; exporters: Record<string, { endpoint: string }> }>('deploy/otel-collector/config.yaml');
    const otlpHttpPort = hostPort(collector.receivers.otlp.protocols.http.endpoint).port;
    for (const [name, svc] of sluiceServices.filter(([n]) => n !== 'demo')) {
      const endpoint = svc.environment?.OTEL_EXPORTER_OTLP_ENDPOINT;
      expect(endpoint, name).toBeDefined();
      expect(hostPort(endpoint!), name).toEqual({ host: 'otel-collector', port: otlpHttpPort });
    }
    const tempo = yamlFile<{ distributor: { receivers: { otlp: { protocols: { grpc: { endpoint: string } } } } }; server: { http_listen_port: number } }>('deploy/tempo/tempo.yaml');
    const exporter = Object.entries(collector.exporters).find(([k]) => k.startsWith('otlp'))![1];
    expect(hostPort(exporter.endpoint)).toEqual({ host: 'tempo', port: hostPort(tempo.distributor.receivers.otlp.protocols.grpc.endpoint).port });
  });

  it('provisions Grafana with the Prometheus and Tempo data sources and the Sluice dashboard', () => {
    const grafana = model.services.grafana!;
    const ds = yamlFile<{ datasources: Array<{ uid: string; type: string; url: string }> }>('deploy/grafana/provisioning/datasources/datasources.yaml');
    expect(ds.datasources.map((d) => d.type).sort()).toEqual(['prometheus', 'tempo']);
    const tempoPort = String(yamlFile<{ server: { http_listen_port: number } }>('deploy/tempo/tempo.yaml').server.http_listen_port);
    for (const d of ds.datasources) {
      const { host, port } = hostPort(d.url);
      expect(model.services[host], d.url).toBeDefined();
      if (d.type === 'tempo') expect(port).toBe(tempoPort);
    }
    expect(hostPathOf(grafana, '/etc/grafana/provisioning/datasources/datasources.yaml')).toBe(join(repoRoot, 'deploy/grafana/provisioning/datasources/datasources.yaml'));

    const providers = yamlFile<{ providers: Array<{ type: string; options: { path: string } }> }>('deploy/grafana/provisioning/dashboards/dashboards.yaml');
    const dashboardsDir = hostPathOf(grafana, providers.providers[0]!.options.path);
    expect(dashboardsDir).toBe(join(repoRoot, 'deploy/grafana/dashboards'));
    expect(hostPathOf(grafana, '/etc/grafana/provisioning/dashboards/dashboards.yaml')).toBeDefined();
    const home = grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
    expect(existsSync(hostPathOf(grafana, home!) ?? '')).toBe(true);
    expect(grafana.environment).toMatchObject({ GF_AUTH_ANONYMOUS_ENABLED: 'true', GF_AUTH_ANONYMOUS_ORG_ROLE: 'Viewer' });

    const dashboard = JSON.parse(read('deploy/grafana/dashboards/sluice.json')) as { title: string; uid: string; panels: Array<{ title: string; datasource: { uid: string }; targets: Array<{ datasource: { uid: string } }> }> };
    expect(dashboard.title).toBe('Sluice');
    const uids = new Set(ds.datasources.map((d) => d.uid));
    for (const p of dashboard.panels) {
      expect(uids.has(p.datasource.uid), p.title).toBe(true);
      for (const t of p.targets) expect(uids.has(t.datasource.uid), p.title).toBe(true);
    }
    const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join(' | ');
    for (const want of ['active connections per edge', 'active connections per agent', 'new connections per second', 'bytes in and out', 'route misses', 'time to assign', 'agents online']) expect(titles).toContain(want);
  });
});
