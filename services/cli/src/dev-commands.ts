import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, hostname as machineName, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '@sluice/nats';
import { createLogger } from '@sluice/telemetry';
import { SERVICE_NAME_PATTERN, DNS_LABEL_PATTERN, SluiceError, agentInboxPrefix, devCodecs, interceptResource, newId, TUNNEL_EDGE_PREFIX, type InterceptSpec } from '@sluice/contracts';
import { createAgent, parseAgentConfig, type Agent } from '@sluice/agent';
import { createKubeClient, kubePaths, kubeStatusOf, loadKubeConnection, type Intercept, type KubeClient, type Service } from '@sluice/kube';
import { ApiClient, ApiError, readLogin } from './api-client.ts';
import type { LocalGateway } from './local.ts';

export interface DevIo {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
  local: LocalGateway | undefined;
  /** Resolves when the user asks to stop (Ctrl-C, SIGTERM). */
  interrupted: Promise<string>;
}

export const devUsage = `  sluice dev intercept SERVICE --namespace NS --port PORT[:LOCAL] [--host H] [--transport core|jetstream]
      connections other pods make to SERVICE:PORT go to H:LOCAL (127.0.0.1:PORT by default)
      until Ctrl-C, which gives the Service back to its own pods
  sluice dev list [--namespace NS | --all-namespaces]   intercepts, who holds them, their state
  sluice dev leave SERVICE --namespace NS [--force]     end an intercept (yours; --force: anyone's)
  Kubernetes from KUBECONFIG or ~/.kube/config; the registry API and token as for \`sluice agents\`.`;

class DevError extends SluiceError {
  constructor(
    code: string,
    message: string,
    readonly exitCode = 1,
  ) {
    super(code, message);
  }
}

interface AgentCreated {
  name: string;
  hostname: string;
  credentials: { agentId: string; token: string; natsUrl?: string; natsCreds?: string };
}

const serviceRe = new RegExp(SERVICE_NAME_PATTERN);
const namespaceRe = new RegExp(DNS_LABEL_PATTERN);

/** The registry agent a developer's intercept of one Service runs as: one per user, Service and namespace. */
export function devAgentName(service: string, namespace: string): string {
  const full = `dev-${service}-${namespace}`;
  if (full.length <= 32) return full;
  const hash = createHash('sha256').update(`${namespace}/${service}`).digest('hex').slice(0, 8);
  return `dev-${service.slice(0, 18).replace(/-+$/, '')}-${hash}`;
}

/** `8080:3000` → Service port 8080 to local 3000; `8080` → local 8080. */
export function parsePortMapping(text: string | undefined): { port: number; local: number } {
  const m = text ? /^(\d{1,5})(?::(\d{1,5}))?$/.exec(text) : null;
  const port = Number(m?.[1]);
  const local = Number(m?.[2] ?? m?.[1]);
  const ok = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 65535;
  if (!m || !ok(port) || !ok(local)) throw new DevError('SLUICE_USAGE', `--port: expected SERVICE_PORT[:LOCAL_PORT] with ports 1-65535, got "${text ?? ''}"`, 2);
  return { port, local };
}

/** The namespace of the kubeconfig's current context (as kubectl uses it), else `default`. */
function contextNamespace(env: NodeJS.ProcessEnv): string {
  const path = env.KUBECONFIG?.split(':').find((p) => p !== '') ?? join(homedir(), '.kube', 'config');
  try {
    if (!existsSync(path)) return 'default';
    const doc = parseYaml(readFileSync(path, 'utf8')) as { 'current-context'?: string; contexts?: Array<{ name?: string; context?: { namespace?: string } }> };
    const ns = doc.contexts?.find((c) => c.name === doc['current-context'])?.context?.namespace;
    return typeof ns === 'string' && ns !== '' ? ns : 'default';
  } catch {
    return 'default';
  }
}

function registry(values: { api?: string | undefined; token?: string | undefined }, io: DevIo): ApiClient {
  const stored = readLogin(io.env);
  const api = values.api ?? io.env.SLUICE_API ?? stored?.api ?? io.local?.apiUrl ?? 'http://127.0.0.1:8081';
  const token = values.token ?? io.env.SLUICE_TOKEN ?? stored?.token;
  if (!token) throw new ApiError('SLUICE_NOT_LOGGED_IN', 'no API token: run `sluice login --token <token>` or set SLUICE_TOKEN (developer mode runs your agent under your registry user)', 401);
  return new ApiClient(api, token);
}

const describeHolder = (ic: Intercept): string => {
  const s = ic.spec;
  return `${s?.holder ?? 'someone'}${s?.client ? ` (on ${s.client})` : ''}${ic.metadata.creationTimestamp ? ` since ${ic.metadata.creationTimestamp}` : ''}`;
};

/** `sluice dev …`; returns the exit code. */
export async function runDevCommand(argv: string[], io: DevIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      namespace: { type: 'string', short: 'n' },
      'all-namespaces': { type: 'boolean', short: 'A' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      transport: { type: 'string' },
      nats: { type: 'string' },
      api: { type: 'string' },
      token: { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [sub, service] = positionals;
  if (values.help || !sub) {
    io.out(`usage:\n${devUsage}\n`);
    return values.help ? 0 : 2;
  }
  const namespace = values.namespace ?? contextNamespace(io.env);
  if (!namespaceRe.test(namespace)) throw new DevError('SLUICE_USAGE', `--namespace: "${namespace}" is not a namespace name`, 2);
  const needService = (): string => {
    if (!service || !serviceRe.test(service)) throw new DevError('SLUICE_USAGE', `sluice dev ${sub}: SERVICE must be a Service name (lower-case letters, digits, hyphens), got "${service ?? ''}"`, 2);
    return service;
  };
  const kube = createKubeClient(await loadKubeConnection(io.env));
  try {
    if (sub === 'intercept') return await intercept(needService(), namespace, values, kube, io);
    if (sub === 'list') return await list(values['all-namespaces'] ? undefined : namespace, values.json === true, kube, io);
    if (sub === 'leave') return await leave(needService(), namespace, values, kube, io);
  } catch (err) {
    if (err instanceof DevError) {
      io.err(`sluice dev ${sub}: ${err.message}\n`);
      return err.exitCode;
    }
    // a collection the API server does not know: the CRD is not installed (a missing object is `undefined`, not an error)
    if (kubeStatusOf(err) === 404 && (err as Error).message.includes(`/apis/${interceptResource.group}/`)) {
      io.err(`sluice dev ${sub}: this cluster has no Intercept resource (${interceptResource.plural}.${interceptResource.group}): install developer mode with \`kubectl apply -k k8s/operator\`\n`);
      return 1;
    }
    throw err;
  }
  io.err(`sluice dev: unknown subcommand "${sub}"\n${devUsage}\n`);
  return 2;
}

async function list(namespace: string | undefined, json: boolean, kube: KubeClient, io: DevIo): Promise<number> {
  const { items } = await kube.list<Intercept>(kubePaths.intercepts(namespace));
  const rows = items.map((ic) => ({
    namespace: ic.metadata.namespace ?? '',
    service: ic.spec?.service ?? ic.metadata.name,
    port: ic.spec?.port,
    localPort: ic.spec?.localPort,
    holder: ic.spec?.holder ?? '',
    client: ic.spec?.client,
    phase: ic.metadata.deletionTimestamp ? 'Ending' : (ic.status?.phase ?? 'Pending'),
    serviceTarget: ic.status?.serviceTarget ?? 'original',
    tunnel: ic.status?.tunnelState ?? 'unknown',
    since: ic.status?.since ?? ic.metadata.creationTimestamp,
    message: ic.status?.message ?? '',
  }));
  if (json) {
    io.out(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  if (rows.length === 0) {
    io.out(`no intercepts${namespace ? ` in namespace ${namespace}` : ''}\n`);
    return 0;
  }
  const table = [['NAMESPACE', 'SERVICE', 'PORT', 'HOLDER', 'PHASE', 'SERVICE→', 'TUNNEL', 'SINCE'], ...rows.map((r) => [r.namespace, r.service, `${r.port ?? '?'}${r.localPort ? `→${r.localPort}` : ''}`, r.holder, r.phase, r.serviceTarget, r.tunnel, r.since ?? ''])];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) io.out(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n');
  for (const r of rows) if (r.phase === 'Refused' || r.phase === 'Failed') io.out(`  ${r.namespace}/${r.service}: ${r.message}\n`);
  return 0;
}

/** Deletes the Intercept and waits (up to `timeoutMs`) until the operator has given the Service back and it is gone. */
async function endIntercept(kube: KubeClient, namespace: string, name: string, timeoutMs: number): Promise<'gone' | 'pending' | 'absent'> {
  if (!(await kube.remove(kubePaths.intercept(namespace, name)))) return 'absent';
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await kube.get(kubePaths.intercept(namespace, name)))) return 'gone';
    await new Promise((r) => setTimeout(r, 200));
  }
  return 'pending';
}

async function leave(service: string, namespace: string, values: { force?: boolean | undefined; api?: string | undefined; token?: string | undefined; json?: boolean | undefined }, kube: KubeClient, io: DevIo): Promise<number> {
  const ic = await kube.get<Intercept>(kubePaths.intercept(namespace, service));
  if (!ic) throw new DevError('SLUICE_NOT_FOUND', `no intercept of service ${service} in namespace ${namespace}`);
  let api: ApiClient | undefined;
  let me: string | undefined;
  try {
    api = registry(values, io);
    me = (await api.call<{ name: string }>('GET', '/v1/me')).name;
  } catch (err) {
    if (!values.force) throw err;
  }
  if (!values.force && ic.spec?.holder !== me) {
    throw new DevError('SLUICE_FORBIDDEN', `${namespace}/${service} is intercepted by ${describeHolder(ic)}, not by you (${me}); --force ends it anyway`);
  }
  const outcome = await endIntercept(kube, namespace, service, 15_000);
  // your agent for it (left over if a session was killed): its credentials are revoked with it
  if (api && ic.spec?.holder === me) {
    await api.call('DELETE', `/v1/agents/${encodeURIComponent(devAgentName(service, namespace))}`).catch((err: unknown) => {
      if (!(err instanceof ApiError && err.status === 404)) io.err(`sluice dev leave: could not delete agent ${devAgentName(service, namespace)}: ${(err as Error).message}\n`);
    });
  }
  if (values.json) io.out(JSON.stringify({ namespace, service, ended: outcome !== 'pending' }) + '\n');
  else if (outcome === 'pending') io.out(`${namespace}/${service}: deletion requested; the operator gives the Service back when it runs\n`);
  else io.out(`${namespace}/${service}: intercept ended; the Service is back on its own pods\n`);
  return 0;
}

interface InterceptFlags {
  port?: string | undefined;
  host?: string | undefined;
  transport?: string | undefined;
  nats?: string | undefined;
  api?: string | undefined;
  token?: string | undefined;
  json?: boolean | undefined;
  'log-level'?: string | undefined;
}

async function intercept(service: string, namespace: string, values: InterceptFlags, kube: KubeClient, io: DevIo): Promise<number> {
  const { port, local } = parsePortMapping(values.port);
  const host = values.host ?? '127.0.0.1';
  const transport = values.transport ?? 'jetstream';
  const say = (event: string, text: string, extra: Record<string, unknown> = {}): void => {
    if (values.json) io.out(JSON.stringify({ event, namespace, service, ...extra }) + '\n');
    else io.out(`${text}\n`);
  };
  const api = registry(values, io);
  const me = (await api.call<{ name: string }>('GET', '/v1/me')).name;

  // refused before anything is created: one developer per Service
  const existing = await kube.get<Intercept>(kubePaths.intercept(namespace, service));
  if (existing && existing.spec?.holder !== me) {
    throw new DevError('SLUICE_INTERCEPT_HELD', `service ${namespace}/${service} is already intercepted by ${describeHolder(existing)}; only one developer at a time (they end it with \`sluice dev leave ${service} --namespace ${namespace}\`)`);
  }
  if (existing?.metadata.deletionTimestamp) throw new DevError('SLUICE_INTERCEPT_ENDING', `the intercept of ${namespace}/${service} is ending; try again in a moment`);
  const svc = await kube.get<Service>(kubePaths.service(namespace, service));
  if (!svc) throw new DevError('SLUICE_NOT_FOUND', `service ${service} not found in namespace ${namespace}`);
  if (!(svc.spec?.ports ?? []).some((p) => p.port === port)) {
    throw new DevError('SLUICE_NO_SUCH_PORT', `service ${namespace}/${service} has no port ${port} (its ports: ${(svc.spec?.ports ?? []).map((p) => p.port).join(', ') || 'none'})`);
  }

  // the agent this session runs as: created, or (a session before was killed) given new credentials
  const agentName = devAgentName(service, namespace);
  let created: AgentCreated;
  try {
    created = await api.call<AgentCreated>('POST', '/v1/agents', { name: agentName });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 409)) throw err;
    // the old credentials are revoked: a forgotten session of yours stops
    created = await api.call<AgentCreated>('POST', `/v1/agents/${encodeURIComponent(agentName)}/credentials`);
  }
  const { agentId, token } = created.credentials;
  // a name only this agent may claim; kept when a session takes over its own intercept (same pod)
  const hostname = existing?.spec?.agentId === agentId && existing.spec.hostname.endsWith(`.${created.hostname}`) ? existing.spec.hostname : `i-${newId(16)}.${created.hostname}`;
  const spec: InterceptSpec = { service, port, hostname, agentId, holder: me, client: machineName().slice(0, 253), localPort: local };
  if (!devCodecs.interceptSpec.check(spec)) throw new DevError('SLUICE_INVALID', `cannot describe this intercept (${JSON.stringify(spec)})`);

  let creds: { dir: string; file: string } | undefined;
  let nc: NatsConnection | undefined;
  let controlNc: NatsConnection | undefined;
  let agent: Agent | undefined;
  let interceptCreated = false;
  const cleanup = async (opts: { deleteIntercept: boolean; deleteAgent: boolean }): Promise<void> => {
    if (opts.deleteIntercept && interceptCreated) {
      const outcome = await endIntercept(kube, namespace, service, 15_000).catch((err: unknown) => {
        io.err(`sluice dev: could not delete the intercept: ${(err as Error).message}\n`);
        return 'pending' as const;
      });
      if (outcome === 'pending') say('ending', `${namespace}/${service}: deletion requested; the operator gives the Service back when it runs`);
      else say('ended', `${namespace}/${service} is back on its own pods`);
    }
    // the Service no longer points here: in-flight connections finish within the agent's grace
    await agent?.stop().catch(() => undefined);
    await nc?.drain().catch(() => undefined);
    await controlNc?.drain().catch(() => undefined);
    // its credentials are revoked with it, and its route removed
    if (opts.deleteAgent) await api.call('DELETE', `/v1/agents/${encodeURIComponent(agentName)}`).catch(() => undefined);
    if (creds) rmSync(creds.dir, { recursive: true, force: true });
  };

  try {
    const body: Intercept = { apiVersion: interceptResource.apiVersion, kind: interceptResource.kind, metadata: { name: service, namespace }, spec };
    if (existing) {
      await kube.call('PUT', kubePaths.intercept(namespace, service), { body: { ...existing, spec } });
    } else {
      try {
        await kube.call('POST', kubePaths.intercepts(namespace), { body });
      } catch (err) {
        if (kubeStatusOf(err) !== 409) throw err;
        const other = await kube.get<Intercept>(kubePaths.intercept(namespace, service));
        throw new DevError('SLUICE_INTERCEPT_HELD', `service ${namespace}/${service} was intercepted a moment ago by ${other ? describeHolder(other) : 'someone else'}`);
      }
    }
    interceptCreated = true;

    const natsUrl = values.nats ?? io.env.SLUICE_NATS_URL ?? created.credentials.natsUrl ?? io.local?.natsUrl ?? 'nats://127.0.0.1:4222';
    if (created.credentials.natsCreds) {
      const dir = mkdtempSync(join(tmpdir(), 'sluice-dev-'));
      const file = join(dir, `${agentName}.creds`);
      writeFileSync(file, created.credentials.natsCreds, { mode: 0o600 });
      creds = { dir, file };
    }
    const config = parseAgentConfig(
      {
        nats: natsUrl,
        token,
        agentId,
        ...(creds ? { credentials: creds.file } : {}),
        transport,
        generate: false,
        graceMs: 2_000,
        ingress: [{ hostname, service: `tls://${host.includes(':') ? `[${host}]` : host}:${local}` }],
      },
      'sluice dev intercept',
    );
    const logger = createLogger('cli', values['log-level'] ?? io.env.LOG_LEVEL ?? 'warn');
    const auth = creds ? { credsFile: creds.file, inboxPrefix: agentInboxPrefix(agentId) } : io.env.NATS_TOKEN ? { token: io.env.NATS_TOKEN } : {};
    nc = await connectNats({ servers: natsUrl, name: 'sluice-dev', ...auth }, logger);
    controlNc = await connectNats({ servers: natsUrl, name: 'sluice-dev-control', ...auth }, logger);
    // the bytes are carried untouched: `tls` is the agent's opaque-bytes kind (no HTTP is parsed)
    // only its tunnel pod's connections: the route name reached through a public edge is refused
    agent = createAgent(config, { nc, controlNc, logger, acceptEdge: (edgeId) => edgeId.startsWith(TUNNEL_EDGE_PREFIX) });
    const reply = await agent.start();
    const refused = reply.refused.find((r) => r.hostname === hostname);
    if (refused) throw new DevError('SLUICE_HOSTNAME_REFUSED', `the registry refused the intercept's route ${hostname}: ${refused.reason}`);
    say('waiting', `${namespace}/${service}: waiting for the tunnel pod to report connected…`, { port, local, hostname, agentId, holder: me });

    const lost = new Promise<string>((resolve) => {
      for (const c of [nc!, controlNc!]) void c.closed().then((err) => resolve(`the gateway closed the NATS connection${err ? `: ${err.message}` : ''} (credentials revoked: another session of yours took over?)`));
    });
    let phase = '';
    let stop: { why: 'signal' | 'gone' | 'lost'; detail: string } | undefined;
    void io.interrupted.then((sig) => (stop ??= { why: 'signal', detail: sig }));
    // `sluice dev leave` deletes the intercept and then this agent (revoking its credentials): the
    // connection may close before the next look at the intercept, so look before blaming a takeover
    void lost.then(async (why) => {
      const cur = await kube.get<Intercept>(kubePaths.intercept(namespace, service)).catch(() => 'unreachable' as const);
      if (cur === undefined || (cur !== 'unreachable' && cur.metadata.deletionTimestamp)) stop ??= { why: 'gone', detail: 'the intercept was deleted (sluice dev leave?)' };
      else stop ??= { why: 'lost', detail: why };
    });
    while (!stop) {
      const cur = await kube.get<Intercept>(kubePaths.intercept(namespace, service)).catch(() => 'unreachable' as const);
      if (cur === undefined) stop ??= { why: 'gone', detail: 'the intercept was deleted (sluice dev leave?)' };
      else if (cur !== 'unreachable' && cur.status?.phase && cur.status.phase !== phase) {
        phase = cur.status.phase;
        const msg = cur.status.message ?? '';
        if (phase === 'Active') say('active', `intercepting ${namespace}/${service}:${port} → ${host}:${local}; Ctrl-C ends it`, { port, local });
        else if (phase === 'Disconnected') say('disconnected', `${namespace}/${service} is on its own pods again: ${msg}`, { message: msg });
        else if (phase === 'Refused' || phase === 'Failed') {
          say(phase.toLowerCase(), `${namespace}/${service}: ${msg}`, { message: msg });
          stop ??= { why: 'gone', detail: msg };
          await cleanup({ deleteIntercept: true, deleteAgent: true });
          return 1;
        }
      }
      await Promise.race([new Promise((r) => setTimeout(r, 500)), io.interrupted]);
    }
    const s = stop as { why: 'signal' | 'gone' | 'lost'; detail: string };
    if (s.why !== 'signal') io.err(`sluice dev intercept: ${s.detail}\n`);
    // lost: another session of yours took the agent (and the intercept) over; leave both to it
    await cleanup({ deleteIntercept: s.why === 'signal', deleteAgent: s.why !== 'lost' });
    return s.why === 'lost' ? 1 : 0;
  } catch (err) {
    await cleanup({ deleteIntercept: true, deleteAgent: true });
    throw err;
  }
}
