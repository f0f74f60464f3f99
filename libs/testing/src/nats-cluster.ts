import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port.ts';
import { startNats, type NatsServerHandle } from './nats-server.ts';

export interface StartNatsClusterOptions {
  /** Servers in the cluster (default 3). */
  size?: number;
  /** Cluster name (default `sluice`); server `i` is named `<name>-<i>`. */
  name?: string;
  /** nats-server configuration text appended to every member's config. */
  extraConfig?: string;
  /** Lines added inside every member's `cluster {}` block (e.g. `no_advertise: true`). */
  clusterConfig?: string;
  /** How long the cluster may take to elect a JetStream meta leader (default 30 s). */
  readyTimeoutMs?: number;
}

export interface StartSuperclusterOptions {
  /** Cluster name → servers in it, e.g. `{ eu: 3, us: 1 }`; joined by NATS gateways. */
  clusters: Record<string, number>;
  extraConfig?: string;
  readyTimeoutMs?: number;
}

/**
 * One member: a nats-server with its own client, route, gateway and monitoring ports and store. It
 * is a NatsServerHandle, so `startStack({ nats: cluster.servers[1] })` puts a stack on it.
 */
export interface NatsClusterMember extends NatsServerHandle {
  /** `server_name`, unique across the supercluster: `<cluster>-<i>`. */
  readonly name: string;
  readonly cluster: string;
  readonly routePort: number;
  /** Undefined outside a supercluster. */
  readonly gatewayPort: number | undefined;
  /** The HTTP monitoring port (`/healthz`, `/jsz`, `/connz`, …). */
  readonly monitorPort: number;
  /** Whether the process runs (false between `kill()` and `restart()`). */
  readonly running: boolean;
  /** Starts it again (same ports, config and store) and waits until the whole cluster is ready. */
  restart(): Promise<void>;
}

export interface NatsClusterHandle {
  readonly name: string;
  readonly servers: readonly NatsClusterMember[];
  /** Every member's client URL, in member order. */
  readonly urls: readonly string[];
  /** SIGKILL member `i`, as in a crash; its store stays for `restart(i)`. */
  kill(i: number): Promise<void>;
  /** Starts member `i` again (same ports, config and store) and waits until it is healthy. */
  restart(i: number): Promise<void>;
  /** GET a monitoring endpoint of member `i` (`/connz`, `/jsz?streams=true`, …) as JSON. */
  monitor<T = Record<string, unknown>>(i: number, path: string): Promise<T>;
  /** Name of the member a client connection with this name is on, per `/connz`; undefined if none. */
  whereIs(connectionName: string): Promise<string | undefined>;
  /**
   * The leader of every JetStream stream (key `<stream>`) and consumer (`<stream>/<consumer>`) of
   * every account, as the running members report them (`/jsz`): a member name, or undefined while
   * one is being elected, and how many servers hold a replica. A single-replica asset dies with its
   * server (no other member reports it any more). For watching a fail-over happen.
   */
  leaders(): Promise<Map<string, AssetLeader>>;
  /** Waits until every running member is healthy and they agree on a JetStream meta leader. */
  waitForJetStream(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface AssetLeader {
  leader: string | undefined;
  replicas: number;
}

export interface SuperclusterHandle {
  readonly clusters: Readonly<Record<string, NatsClusterHandle>>;
  cluster(name: string): NatsClusterHandle;
  waitForJetStream(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export class NatsClusterError extends Error {
  override readonly name = 'NatsClusterError';
  readonly code: 'SLUICE_TESTING_NATS_CLUSTER_BAD_OPTIONS' | 'SLUICE_TESTING_NATS_CLUSTER_NOT_READY' | 'SLUICE_TESTING_NATS_CLUSTER_MEMBER_EXITED';
  constructor(code: NatsClusterError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

const DEFAULT_READY_TIMEOUT_MS = 30_000;
const MONITOR_TIMEOUT_MS = 1_000;
/** Ports are picked then released before nats-server binds them: another process may win one. */
const LAUNCH_ATTEMPTS = 3;
const NAME_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

interface MemberPlan {
  name: string;
  cluster: string;
  port: number;
  routePort: number;
  gatewayPort: number | undefined;
  monitorPort: number;
}

class Member implements NatsClusterMember {
  readonly name: string;
  readonly cluster: string;
  readonly routePort: number;
  readonly gatewayPort: number | undefined;
  readonly monitorPort: number;
  #running = true;
  constructor(
    plan: MemberPlan,
    readonly handle: NatsServerHandle,
    private readonly whenReady: () => Promise<void>,
  ) {
    this.name = plan.name;
    this.cluster = plan.cluster;
    this.routePort = plan.routePort;
    this.gatewayPort = plan.gatewayPort;
    this.monitorPort = plan.monitorPort;
  }
  get url(): string {
    return this.handle.url;
  }
  get port(): number {
    return this.handle.port;
  }
  get storeDir(): string {
    return this.handle.storeDir;
  }
  get pid(): number | undefined {
    return this.handle.pid;
  }
  get running(): boolean {
    return this.#running;
  }
  async kill(): Promise<void> {
    this.#running = false;
    await this.handle.kill();
  }
  async restart(): Promise<void> {
    this.#running = false;
    await this.handle.restart();
    this.#running = true;
    await this.whenReady();
  }
  async stop(): Promise<void> {
    this.#running = false;
    await this.handle.stop();
  }
}

/** Distinct free ports: freePort() alone may hand out one it just handed out. */
async function freePorts(n: number): Promise<number[]> {
  const picked = new Set<number>();
  while (picked.size < n) picked.add(await freePort());
  return [...picked];
}

async function planMembers(clusters: ReadonlyArray<[string, number]>, gateways: boolean): Promise<MemberPlan[]> {
  const total = clusters.reduce((n, [, size]) => n + size, 0);
  const ports = await freePorts(total * (gateways ? 4 : 3));
  const plans: MemberPlan[] = [];
  for (const [cluster, size] of clusters) {
    for (let i = 0; i < size; i++) {
      plans.push({
        name: `${cluster}-${i}`,
        cluster,
        port: ports.pop()!,
        routePort: ports.pop()!,
        gatewayPort: gateways ? ports.pop()! : undefined,
        monitorPort: ports.pop()!,
      });
    }
  }
  return plans;
}

/** The cluster and gateway blocks: explicit routes to every other member, gateways to every cluster. */
function memberConfig(plan: MemberPlan, all: readonly MemberPlan[], extra: string, clusterExtra: string): string {
  const others = all.filter((p) => p.cluster === plan.cluster && p.name !== plan.name);
  // a lone server still needs a route for clustered JetStream ("requires configured routes"):
  // one to itself satisfies the check, and the server ignores it
  const peers = others.length > 0 ? others : [plan];
  const lines = [
    `server_name: ${JSON.stringify(plan.name)}`,
    `http: "127.0.0.1:${plan.monitorPort}"`,
    'cluster {',
    `  name: ${JSON.stringify(plan.cluster)}`,
    `  listen: "127.0.0.1:${plan.routePort}"`,
    `  routes: [${peers.map((p) => JSON.stringify(`nats-route://127.0.0.1:${p.routePort}`)).join(', ')}]`,
    ...(clusterExtra === '' ? [] : [clusterExtra]),
    '}',
  ];
  if (plan.gatewayPort !== undefined) {
    const byCluster = new Map<string, string[]>();
    for (const p of all) byCluster.set(p.cluster, [...(byCluster.get(p.cluster) ?? []), `nats://127.0.0.1:${p.gatewayPort!}`]);
    lines.push(
      'gateway {',
      `  name: ${JSON.stringify(plan.cluster)}`,
      `  listen: "127.0.0.1:${plan.gatewayPort}"`,
      '  gateways: [',
      ...[...byCluster].map(([name, urls]) => `    { name: ${JSON.stringify(name)}, urls: [${urls.map((u) => JSON.stringify(u)).join(', ')}] }`),
      '  ]',
      '}',
    );
  }
  if (extra !== '') lines.push(extra);
  return lines.join('\n');
}

function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function getJson<T>(port: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(MONITOR_TIMEOUT_MS) });
  const body = await res.text();
  if (!res.ok) throw new Error(`GET ${path} on 127.0.0.1:${port}: ${res.status} ${body.slice(0, 200)}`);
  return JSON.parse(body) as T;
}

interface JszReply {
  meta_cluster?: { leader?: string; cluster_size?: number };
}

interface JszCluster {
  leader?: string;
  /** The other servers of the asset's Raft group (absent for a single replica). */
  replicas?: unknown[];
}

interface JszAssetsReply {
  account_details?: Array<{
    stream_detail?: Array<{ name: string; cluster?: JszCluster; consumer_detail?: Array<{ name: string; cluster?: JszCluster }> }>;
  }>;
}

/** Every member's view merged: an asset has a leader when a running member names one. */
async function assetLeaders(members: readonly Member[]): Promise<Map<string, AssetLeader>> {
  const out = new Map<string, AssetLeader>();
  const note = (key: string, cluster: JszCluster | undefined): void => {
    const leader = cluster?.leader || undefined;
    const replicas = 1 + (cluster?.replicas?.length ?? 0);
    const seen = out.get(key);
    if (!seen) out.set(key, { leader, replicas });
    else out.set(key, { leader: seen.leader ?? leader, replicas: Math.max(seen.replicas, replicas) });
  };
  const views = await Promise.all(
    members.filter((m) => m.running).map((m) => getJson<JszAssetsReply>(m.monitorPort, '/jsz?accounts=true&streams=true&consumers=true').catch(() => undefined)),
  );
  for (const view of views) {
    for (const account of view?.account_details ?? []) {
      for (const stream of account.stream_detail ?? []) {
        note(stream.name, stream.cluster);
        for (const c of stream.consumer_detail ?? []) note(`${stream.name}/${c.name}`, c.cluster);
      }
    }
  }
  return out;
}

/** Why member `m` is not ready yet, or null when it is healthy and knows the meta leader. */
async function notReady(m: Member, expectedMeta: number): Promise<string | null> {
  if (!isAlive(m.handle.pid)) {
    throw new NatsClusterError('SLUICE_TESTING_NATS_CLUSTER_MEMBER_EXITED', `${m.name} exited (pid ${String(m.handle.pid)}); one of its ports may have been taken`);
  }
  try {
    // healthz answers 503 until JetStream on this server has caught up with the meta layer
    await getJson(m.monitorPort, '/healthz');
    const jsz = await getJson<JszReply>(m.monitorPort, '/jsz');
    const meta = jsz.meta_cluster;
    if (!meta?.leader) return `${m.name}: no meta leader yet`;
    if ((meta.cluster_size ?? 0) < expectedMeta) return `${m.name}: meta group of ${String(meta.cluster_size)}, expected ${expectedMeta}`;
    return null;
  } catch (err) {
    return `${m.name}: ${(err as Error).message}`;
  }
}

async function waitUntilReady(members: readonly Member[], expectedMeta: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const running = members.filter((m) => m.running);
    const reasons = (await Promise.all(running.map((m) => notReady(m, expectedMeta)))).filter((r) => r !== null);
    if (reasons.length === 0) return;
    if (Date.now() > deadline) {
      throw new NatsClusterError('SLUICE_TESTING_NATS_CLUSTER_NOT_READY', `JetStream not ready within ${timeoutMs} ms: ${reasons.join('; ')}`);
    }
    await sleep(100);
  }
}

function checkName(name: string, what: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new NatsClusterError('SLUICE_TESTING_NATS_CLUSTER_BAD_OPTIONS', `${what} must match ${NAME_PATTERN.source}, got ${JSON.stringify(name)}`);
  }
}

function checkSize(size: number, what: string): void {
  if (!Number.isInteger(size) || size < 1 || size > 9) {
    throw new NatsClusterError('SLUICE_TESTING_NATS_CLUSTER_BAD_OPTIONS', `${what} must be an integer 1..9, got ${size}`);
  }
}

/** Starts every planned member; on any failure stops those that started and rethrows. */
async function launch(plans: readonly MemberPlan[], extra: string, clusterExtra: string, readyTimeoutMs: number): Promise<Member[]> {
  const members: Member[] = [];
  const whenReady = (): Promise<void> => waitUntilReady(members, plans.length, readyTimeoutMs);
  const started = await Promise.allSettled(
    plans.map((plan) => startNats({ port: plan.port, local: true, extraConfig: memberConfig(plan, plans, extra, clusterExtra) })),
  );
  started.forEach((s, i) => {
    if (s.status === 'fulfilled') members.push(new Member(plans[i]!, s.value, whenReady));
  });
  try {
    const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure) throw failure.reason;
    await whenReady();
    return members;
  } catch (err) {
    await Promise.all(members.map((m) => m.stop()));
    throw err;
  }
}

function retryable(err: unknown): boolean {
  if (err instanceof NatsClusterError) return err.code === 'SLUICE_TESTING_NATS_CLUSTER_MEMBER_EXITED';
  return err instanceof Error && /address already in use/i.test(err.message);
}

async function launchWithRetry(
  clusters: ReadonlyArray<[string, number]>,
  gateways: boolean,
  extra: string,
  clusterExtra: string,
  readyTimeoutMs: number,
): Promise<Member[]> {
  for (let attempt = 1; ; attempt++) {
    const plans = await planMembers(clusters, gateways);
    try {
      return await launch(plans, extra, clusterExtra, readyTimeoutMs);
    } catch (err) {
      if (attempt >= LAUNCH_ATTEMPTS || !retryable(err)) throw err;
    }
  }
}

function clusterHandle(name: string, members: Member[], everyone: () => readonly Member[], readyTimeoutMs: number): NatsClusterHandle {
  const member = (i: number): Member => {
    const m = members[i];
    if (!m) throw new NatsClusterError('SLUICE_TESTING_NATS_CLUSTER_BAD_OPTIONS', `cluster ${name} has servers 0..${members.length - 1}, not ${i}`);
    return m;
  };
  const waitForJetStream = (timeoutMs = readyTimeoutMs): Promise<void> => waitUntilReady(everyone(), everyone().length, timeoutMs);
  return {
    name,
    servers: members,
    urls: members.map((m) => m.url),
    kill: (i) => member(i).kill(),
    restart: (i) => member(i).restart(),
    monitor: (i, path) => getJson(member(i).monitorPort, path),
    async whereIs(connectionName) {
      for (const m of members) {
        if (!m.running) continue;
        const connz = await getJson<{ connections?: Array<{ name?: string }> }>(m.monitorPort, '/connz?limit=1024').catch(() => undefined);
        if (connz?.connections?.some((c) => c.name === connectionName)) return m.name;
      }
      return undefined;
    },
    leaders: () => assetLeaders(members),
    waitForJetStream,
    async stop() {
      await Promise.all(members.map((m) => m.stop()));
    },
  };
}

/**
 * A NATS cluster on loopback: `size` local nats-server processes (never containers), each with its
 * own client, route and monitoring ports and store dir, JetStream on, routed to one another.
 * Resolves once every member is healthy and a JetStream meta leader is elected.
 */
export async function startNatsCluster(opts: StartNatsClusterOptions = {}): Promise<NatsClusterHandle> {
  const name = opts.name ?? 'sluice';
  const size = opts.size ?? 3;
  checkName(name, 'cluster name');
  checkSize(size, 'cluster size');
  if (size < 2) {
    // clustered JetStream on a lone server never elects a meta leader: use startNats() for one
    throw new NatsClusterError('SLUICE_TESTING_NATS_CLUSTER_BAD_OPTIONS', 'a cluster has 2..9 servers; startNats() runs a single one');
  }
  const readyTimeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const members = await launchWithRetry([[name, size]], false, opts.extraConfig ?? '', opts.clusterConfig ?? '', readyTimeoutMs);
  return clusterHandle(name, members, () => members, readyTimeoutMs);
}

/**
 * Several clusters joined by NATS gateways into one supercluster (one JetStream meta group across
 * all of them; a stream lives in the cluster it was created from). Each cluster's handle kills and
 * restarts its own members.
 */
export async function startSupercluster(opts: StartSuperclusterOptions): Promise<SuperclusterHandle> {
  const entries = Object.entries(opts.clusters);
  if (entries.length < 2) {
    throw new NatsClusterError('SLUICE_TESTING_NATS_CLUSTER_BAD_OPTIONS', `a supercluster joins two or more clusters, got ${entries.length}`);
  }
  for (const [name, size] of entries) {
    checkName(name, 'cluster name');
    checkSize(size, `size of cluster ${name}`);
  }
  const readyTimeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const members = await launchWithRetry(entries, true, opts.extraConfig ?? '', '', readyTimeoutMs);
  const clusters: Record<string, NatsClusterHandle> = {};
  for (const [name] of entries) {
    clusters[name] = clusterHandle(
      name,
      members.filter((m) => m.cluster === name),
      () => members,
      readyTimeoutMs,
    );
  }
  return {
    clusters,
    cluster(name) {
      const c = clusters[name];
      if (!c) throw new NatsClusterError('SLUICE_TESTING_NATS_CLUSTER_BAD_OPTIONS', `no cluster ${JSON.stringify(name)}; have ${Object.keys(clusters).join(', ')}`);
      return c;
    },
    waitForJetStream: (timeoutMs = readyTimeoutMs) => waitUntilReady(members, members.length, timeoutMs),
    async stop() {
      await Promise.all(members.map((m) => m.stop()));
    },
  };
}
