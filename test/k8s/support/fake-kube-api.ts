import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * An in-process stand-in for the Kubernetes API server, for the handful of resources the agent uses,
 * speaking the real list/watch protocol (https://kubernetes.io/docs/reference/using-api/api-concepts/):
 *
 * - one resourceVersion counter for every write, as etcd's revision; objects carry theirs;
 * - LIST with `limit`/`continue` pages and the list's resourceVersion; an expired continue token → 410;
 * - WATCH (`?watch=true`) as a chunked response of newline-delimited `{type, object}` JSON events,
 *   resumed from `resourceVersion` by replaying the history after it; a version older than the
 *   compacted history → an `ERROR` event carrying a 410 `Expired` Status, then the stream ends;
 * - BOOKMARK events (only `metadata.resourceVersion`) for watches that sent `allowWatchBookmarks`;
 * - `timeoutSeconds` ends a watch cleanly, as the real server rotates them.
 *
 * Faults a test can inject: `dropWatches()` (connections cut mid-stream), `endWatches()` (clean
 * end), `compact()` (history gone: the next resume gets 410), `goDown('refuse' | 'reset')` (the
 * server unreachable: port closed, or every connection reset on accept) and `comeBack()`.
 */

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    /** While any is left, a DELETE only sets `deletionTimestamp`; removing the last one deletes. */
    finalizers?: string[];
    deletionTimestamp?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

interface ResourceType {
  group: string; // '' for the core group
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  /** Has a /status subresource (status writes go only there). */
  status: boolean;
}

const RESOURCES: ResourceType[] = [
  { group: 'networking.k8s.io', version: 'v1', plural: 'ingresses', kind: 'Ingress', namespaced: true, status: true },
  { group: 'networking.k8s.io', version: 'v1', plural: 'ingressclasses', kind: 'IngressClass', namespaced: false, status: false },
  { group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true, status: false },
  { group: 'cert-manager.io', version: 'v1', plural: 'clusterissuers', kind: 'ClusterIssuer', namespaced: false, status: true },
  // developer mode (issue 7): the operator switches Services, runs tunnel Deployments, reconciles
  // Intercepts; tests play kube-proxy from Pods
  { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true, status: true },
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true, status: true },
  { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true, status: true },
  { group: 'sluice.dev', version: 'v1alpha1', plural: 'intercepts', kind: 'Intercept', namespaced: true, status: true },
];

/** Groups served only with `devMode` (as cert-manager.io only with `certManager`). */
const DEV_GROUPS = new Set(['apps', 'sluice.dev']);

type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface HistoryEntry {
  rv: number;
  type: WatchEventType;
  object: KubeObject;
}

interface Watcher {
  res: ServerResponse;
  type: ResourceType;
  namespace: string | undefined;
  bookmarks: boolean;
  timers: NodeJS.Timeout[];
  /** Newest resourceVersion this watcher has been sent (events or bookmarks). */
  sentRv: number;
  /** Sends nothing any more, closes nothing (see freezeWatches). */
  frozen?: boolean;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  at: number;
}

export interface FakeKubeApiOptions {
  /** Serve the cert-manager.io group (ClusterIssuers). Default false. */
  certManager?: boolean;
  /** Send every watch event in two chunks split inside the JSON line. Default true. */
  splitChunks?: boolean;
  /** BOOKMARK period for watches that allow them; 0 = only when `sendBookmarks()` is called. */
  bookmarkIntervalMs?: number;
  /** Serve the apps and sluice.dev groups (Deployments, Intercepts) for developer mode. Default false. */
  devMode?: boolean;
}

const apiVersionOf = (t: ResourceType): string => (t.group ? `${t.group}/${t.version}` : t.version);
const keyOf = (namespace: string | undefined, name: string): string => `${namespace ?? ''}/${name}`;
const clone = <T>(v: T): T => structuredClone(v);

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return clone(patch);
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** The RFC 6902 operations Kubernetes clients send (add, replace, remove), on object paths. */
function jsonPatch(target: KubeObject, ops: Array<{ op: string; path: string; value?: unknown }>): KubeObject {
  const doc = clone(target) as Record<string, unknown>;
  for (const op of ops) {
    const parts = op.path.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop();
    if (last === undefined) throw new Error(`bad patch path ${op.path}`);
    let cur: Record<string, unknown> = doc;
    for (const p of parts) {
      const next = cur[p];
      if (typeof next !== 'object' || next === null) throw new Error(`patch path ${op.path} does not exist`);
      cur = next as Record<string, unknown>;
    }
    if (op.op === 'remove') delete cur[last];
    else if (op.op === 'add' || op.op === 'replace') {
      if (op.op === 'replace' && !(last in cur)) throw new Error(`patch path ${op.path} does not exist`);
      cur[last] = clone(op.value);
    } else throw new Error(`unsupported patch op ${op.op}`);
  }
  return doc as KubeObject;
}

export class FakeKubeApi {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly watchers = new Set<Watcher>();
  private readonly stores = new Map<ResourceType, Map<string, KubeObject>>();
  private readonly history = new Map<ResourceType, HistoryEntry[]>();
  private rv = 100;
  /** Watches from a resourceVersion below this one are answered with 410 Gone. */
  private compactedRv = 0;
  private portNumber = 0;
  private down: 'refuse' | 'reset' | undefined;
  private readonly opts: Required<FakeKubeApiOptions>;
  /** Every request that reached the HTTP layer, in order. */
  readonly requests: RequestRecord[] = [];
  /** Connections accepted (and reset) while `goDown('reset')` is in force, with their times. */
  readonly resetConnections: number[] = [];
  /** Status writes that changed an object. */
  statusWrites = 0;

  constructor(opts: FakeKubeApiOptions = {}) {
    this.opts = { certManager: false, splitChunks: true, bookmarkIntervalMs: 0, devMode: false, ...opts };
    for (const t of RESOURCES) {
      this.stores.set(t, new Map());
      this.history.set(t, []);
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.portNumber}`;
  }

  get port(): number {
    return this.portNumber;
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  /** A kubeconfig file for this server (what `KUBECONFIG` points a child process at). */
  writeKubeconfig(dir = mkdtempSync(join(tmpdir(), 'sluice-kube-'))): string {
    const file = join(dir, 'kubeconfig.yaml');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: fake\n  cluster:\n    server: ${this.url}\n    insecure-skip-tls-verify: true`,
        'users:',
        '- name: agent\n  user:\n    token: fake-token',
        'contexts:',
        '- name: fake\n  context:\n    cluster: fake\n    user: agent',
        'current-context: fake',
        '',
      ].join('\n'),
    );
    return file;
  }

  async start(port = 0): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 1_000;
    server.on('connection', (s: Socket) => {
      if (this.down === 'reset') {
        this.resetConnections.push(Date.now());
        s.destroy();
        return;
      }
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.portNumber = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) this.closeWatcher(w);
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  /**
   * The API server becomes unreachable: `refuse` closes the port (ECONNREFUSED); `reset` keeps
   * accepting and resets every connection at once, counting them in `resetConnections`.
   */
  async goDown(mode: 'refuse' | 'reset'): Promise<void> {
    this.down = mode;
    for (const w of this.watchers) this.closeWatcher(w);
    for (const s of this.sockets) s.destroy();
    if (mode === 'refuse') {
      const server = this.server;
      this.server = undefined;
      if (server) await new Promise<void>((r) => server.close(() => r()));
    }
  }

  async comeBack(): Promise<void> {
    const wasRefusing = this.down === 'refuse';
    this.down = undefined;
    if (wasRefusing) await this.start(this.portNumber);
  }

  // ---- store ---------------------------------------------------------------------------------

  private type(plural: string): ResourceType {
    const t = RESOURCES.find((r) => r.plural === plural);
    if (!t) throw new Error(`unknown resource ${plural}`);
    return t;
  }

  private record(t: ResourceType, type: WatchEventType, obj: KubeObject): void {
    // stored objects are never changed in place (every write stores a new one), so history shares them
    this.history.get(t)!.push({ rv: Number(obj.metadata.resourceVersion), type, object: obj });
    for (const w of this.watchers) {
      if (w.type !== t || (w.namespace !== undefined && obj.metadata.namespace !== w.namespace)) continue;
      this.send(w, { type, object: obj });
      w.sentRv = Number(obj.metadata.resourceVersion);
    }
  }

  /** Creates an object as `kubectl create` would: uid, resourceVersion, creationTimestamp set. */
  create(plural: string, input: KubeObject): KubeObject {
    const t = this.type(plural);
    const store = this.stores.get(t)!;
    const key = keyOf(t.namespaced ? input.metadata.namespace ?? 'default' : undefined, input.metadata.name);
    if (store.has(key)) throw new Error(`${plural} ${key} already exists`);
    const obj: KubeObject = clone(input);
    obj.apiVersion = apiVersionOf(t);
    obj.kind = t.kind;
    if (t.namespaced) obj.metadata.namespace = input.metadata.namespace ?? 'default';
    else delete obj.metadata.namespace;
    obj.metadata.uid = randomUUID();
    obj.metadata.resourceVersion = String(++this.rv);
    obj.metadata.generation = 1;
    // RFC 3339 to the second, as the API server writes it
    obj.metadata.creationTimestamp ??= new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (t.plural === 'ingresses') obj.status ??= { loadBalancer: {} };
    store.set(key, obj);
    this.record(t, 'ADDED', obj);
    return clone(obj);
  }

  get(plural: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const t = this.type(plural);
    const o = this.stores.get(t)!.get(keyOf(t.namespaced ? namespace : undefined, name));
    return o ? clone(o) : undefined;
  }

  list(plural: string, namespace?: string): KubeObject[] {
    const t = this.type(plural);
    return [...this.stores.get(t)!.values()].filter((o) => namespace === undefined || o.metadata.namespace === namespace).map(clone);
  }

  /** Replaces spec-level fields (a user's `kubectl apply`): bumps generation and resourceVersion. */
  update(plural: string, namespace: string | undefined, name: string, change: (o: KubeObject) => void): KubeObject {
    const t = this.type(plural);
    const store = this.stores.get(t)!;
    const key = keyOf(t.namespaced ? namespace : undefined, name);
    const cur = store.get(key);
    if (!cur) throw new Error(`${plural} ${key} not found`);
    const next = clone(cur);
    change(next);
    next.metadata.resourceVersion = String(++this.rv);
    next.metadata.generation = (cur.metadata.generation ?? 1) + 1;
    store.set(key, next);
    this.record(t, 'MODIFIED', next);
    return clone(next);
  }

  delete(plural: string, namespace: string | undefined, name: string): void {
    const t = this.type(plural);
    const store = this.stores.get(t)!;
    const key = keyOf(t.namespaced ? namespace : undefined, name);
    const cur = store.get(key);
    if (!cur) throw new Error(`${plural} ${key} not found`);
    store.delete(key);
    // the DELETED event carries the object at the deletion's resourceVersion
    const gone = clone(cur);
    gone.metadata.resourceVersion = String(++this.rv);
    this.record(t, 'DELETED', gone);
  }

  /** Writes elsewhere in the cluster (other resource types) advance the shared counter. */
  bumpResourceVersion(by = 1): void {
    this.rv += by;
  }

  /** Forgets the history up to now, as etcd compaction does: older resumes get 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    for (const h of this.history.values()) h.length = 0;
  }

  // ---- watch faults --------------------------------------------------------------------------

  /** Number of open watch streams (optionally of one resource). */
  openWatches(plural?: string): number {
    return [...this.watchers].filter((w) => plural === undefined || w.type.plural === plural).length;
  }

  /** Cuts every watch connection mid-stream (no terminating chunk). */
  dropWatches(): void {
    for (const w of this.watchers) {
      this.clearWatcher(w);
      w.res.socket?.destroy();
    }
  }

  /** Every open watch goes silent with its connection kept open (a peer lost without a FIN). */
  freezeWatches(): void {
    for (const w of this.watchers) {
      this.clearWatcher(w);
      w.frozen = true;
    }
  }

  /** Ends every watch cleanly, as the server does when `timeoutSeconds` runs out. */
  endWatches(): void {
    for (const w of this.watchers) this.closeWatcher(w);
  }

  /** Sends a BOOKMARK at the current resourceVersion to every watch that allowed bookmarks. */
  sendBookmarks(): void {
    for (const w of this.watchers) if (w.bookmarks) this.bookmark(w);
  }

  /** Sends the 410 "too old resource version" ERROR event on every watch and ends them. */
  expireWatches(): void {
    for (const w of [...this.watchers]) {
      this.send(w, { type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${w.sentRv} (${this.rv})`) });
      this.closeWatcher(w);
    }
  }

  /** Requests matching method and a path prefix (and `watch` or not), for asserting what a client did. */
  count(method: string, pathPrefix: string, kind: 'list' | 'watch' | 'any' = 'any'): number {
    return this.requests.filter((r) => {
      if (r.method !== method || !r.path.startsWith(pathPrefix)) return false;
      const isWatch = r.query.watch === 'true' || r.query.watch === '1';
      return kind === 'any' || (kind === 'watch') === isWatch;
    }).length;
  }

  private bookmark(w: Watcher): void {
    this.send(w, {
      type: 'BOOKMARK',
      object: { kind: w.type.kind, apiVersion: apiVersionOf(w.type), metadata: { resourceVersion: String(this.rv) } },
    });
    w.sentRv = this.rv;
  }

  private send(w: Watcher, event: unknown): void {
    if (w.res.writableEnded || w.res.destroyed || w.frozen) return;
    const line = JSON.stringify(event) + '\n';
    if (this.opts.splitChunks && line.length > 8) {
      // one event across two chunks: a client must reassemble lines, not parse chunks
      const cut = Math.floor(line.length / 2);
      w.res.write(line.slice(0, cut));
      w.res.write(line.slice(cut));
    } else {
      w.res.write(line);
    }
  }

  private clearWatcher(w: Watcher): void {
    for (const t of w.timers) clearTimeout(t);
    w.timers.length = 0;
    this.watchers.delete(w);
  }

  private closeWatcher(w: Watcher): void {
    this.clearWatcher(w);
    if (!w.res.writableEnded) w.res.end();
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams.entries());
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query, at: Date.now() });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        this.route(req, res, url, query, Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        this.reply(res, 500, status(500, 'InternalError', (err as Error).message));
      }
    });
  }

  private reply(res: ServerResponse, code: number, body: unknown): void {
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private route(req: IncomingMessage, res: ServerResponse, url: URL, query: Record<string, string>, body: string): void {
    const path = url.pathname;
    if (req.method === 'GET' && path === '/apis') {
      const groups = [
        { name: 'networking.k8s.io', versions: [{ groupVersion: 'networking.k8s.io/v1', version: 'v1' }], preferredVersion: { groupVersion: 'networking.k8s.io/v1', version: 'v1' } },
        ...(this.opts.certManager ? [{ name: 'cert-manager.io', versions: [{ groupVersion: 'cert-manager.io/v1', version: 'v1' }], preferredVersion: { groupVersion: 'cert-manager.io/v1', version: 'v1' } }] : []),
        ...(this.opts.devMode
          ? [...DEV_GROUPS].map((g) => {
              const gv = `${g}/${RESOURCES.find((r) => r.group === g)!.version}`;
              return { name: g, versions: [{ groupVersion: gv, version: gv.split('/')[1] }], preferredVersion: { groupVersion: gv, version: gv.split('/')[1] } };
            })
          : []),
      ];
      this.reply(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups });
      return;
    }
    // /api/v1/... or /apis/<group>/<version>/... then [namespaces/<ns>/]<plural>[/<name>[/status]]
    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/(?:namespaces\/([^/]+)\/)?([^/]+)(?:\/([^/]+))?(?:\/(status))?$/.exec(path);
    const group = m?.[2] ?? '';
    const version = m?.[1] ?? m?.[3];
    const t = m ? RESOURCES.find((r) => r.group === group && r.version === version && r.plural === m[5]) : undefined;
    if (!m || !t || (t.group === 'cert-manager.io' && !this.opts.certManager) || (DEV_GROUPS.has(t.group) && !this.opts.devMode)) {
      this.reply(res, 404, status(404, 'NotFound', `the server could not find the requested resource (${path})`));
      return;
    }
    const namespace = m[4];
    const name = m[6];
    const sub = m[7];
    if (t.namespaced !== (namespace !== undefined) && !(t.namespaced && namespace === undefined && req.method === 'GET' && !name)) {
      this.reply(res, 404, status(404, 'NotFound', `${t.plural} is ${t.namespaced ? '' : 'not '}namespaced`));
      return;
    }
    const store = this.stores.get(t)!;
    if (req.method === 'GET' && !name) {
      if (query.watch === 'true' || query.watch === '1') this.watch(res, t, namespace, query);
      else this.listPage(res, t, namespace, query);
      return;
    }
    if (req.method === 'GET' && name) {
      const o = store.get(keyOf(namespace, name));
      if (o) this.reply(res, 200, o);
      else this.reply(res, 404, status(404, 'NotFound', `${t.plural} "${name}" not found`));
      return;
    }
    let parsed: unknown;
    try {
      parsed = body ? JSON.parse(body) : undefined;
    } catch {
      this.reply(res, 400, status(400, 'BadRequest', 'body is not JSON'));
      return;
    }
    if (req.method === 'POST' && !name) {
      const input = parsed as KubeObject;
      if (!input?.metadata?.name) {
        this.reply(res, 422, status(422, 'Invalid', `${t.kind}: metadata.name: Required value`));
        return;
      }
      if (t.namespaced && input.metadata.namespace && input.metadata.namespace !== namespace) {
        this.reply(res, 400, status(400, 'BadRequest', 'the namespace of the object does not match the namespace on the request'));
        return;
      }
      if (t.kind === 'Event') {
        const e = input as Record<string, unknown>;
        if (!e.involvedObject || !e.reason || !e.message) {
          this.reply(res, 422, status(422, 'Invalid', 'Event: involvedObject, reason and message are required'));
          return;
        }
      }
      if (store.has(keyOf(namespace, input.metadata.name))) {
        this.reply(res, 409, status(409, 'AlreadyExists', `${t.plural} "${input.metadata.name}" already exists`));
        return;
      }
      const created = this.create(t.plural, { ...input, metadata: { ...input.metadata, ...(namespace ? { namespace } : {}) } });
      this.reply(res, 201, created);
      return;
    }
    const key = keyOf(namespace, name!);
    const cur = store.get(key);
    if (!cur) {
      this.reply(res, 404, status(404, 'NotFound', `${t.plural} "${name}" not found`));
      return;
    }
    if (req.method === 'PUT' || req.method === 'PATCH') {
      if (t.status && sub !== 'status' && req.method === 'PATCH') {
        this.reply(res, 405, status(405, 'MethodNotAllowed', 'this fake takes spec changes by PUT only'));
        return;
      }
      let next: KubeObject;
      if (req.method === 'PUT') {
        const input = parsed as KubeObject;
        if (input.metadata?.resourceVersion && input.metadata.resourceVersion !== cur.metadata.resourceVersion) {
          this.reply(res, 409, status(409, 'Conflict', `Operation cannot be fulfilled on ${t.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`));
          return;
        }
        next =
          sub === 'status'
            ? { ...clone(cur), status: clone(input.status) }
            : {
                ...clone(input),
                status: clone(cur.status),
                metadata: {
                  ...clone(cur.metadata),
                  labels: input.metadata?.labels,
                  annotations: input.metadata?.annotations,
                  ...(input.metadata?.finalizers !== undefined || cur.metadata.finalizers !== undefined ? { finalizers: clone(input.metadata?.finalizers) } : {}),
                  ...(input.metadata?.ownerReferences !== undefined ? { ownerReferences: clone(input.metadata.ownerReferences) } : {}),
                },
              };
      } else {
        const ct = String(req.headers['content-type'] ?? '');
        try {
          if (ct.startsWith('application/merge-patch+json')) next = mergePatch(cur, parsed) as KubeObject;
          else if (ct.startsWith('application/json-patch+json')) next = jsonPatch(cur, parsed as Array<{ op: string; path: string; value?: unknown }>);
          else {
            this.reply(res, 415, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json (got ${ct})`));
            return;
          }
        } catch (err) {
          this.reply(res, 422, status(422, 'Invalid', (err as Error).message));
          return;
        }
        // a status patch changes only status
        next = sub === 'status' ? { ...clone(cur), status: clone(next.status) } : clone(next);
      }
      next.metadata.name = cur.metadata.name;
      next.metadata.uid = cur.metadata.uid;
      next.metadata.creationTimestamp = cur.metadata.creationTimestamp;
      next.apiVersion = cur.apiVersion;
      next.kind = cur.kind;
      if (JSON.stringify(next) === JSON.stringify(cur)) {
        this.reply(res, 200, cur); // no-op writes keep the resourceVersion
        return;
      }
      next.metadata.resourceVersion = String(++this.rv);
      if (sub !== 'status') next.metadata.generation = (cur.metadata.generation ?? 1) + 1;
      else this.statusWrites++;
      if (next.metadata.deletionTimestamp && (next.metadata.finalizers?.length ?? 0) === 0) {
        // the last finalizer of an object being deleted is gone: now it is deleted
        store.delete(key);
        this.record(t, 'DELETED', next);
        this.reply(res, 200, next);
        return;
      }
      store.set(key, next);
      this.record(t, 'MODIFIED', next);
      this.reply(res, 200, next);
      return;
    }
    if (req.method === 'DELETE' && (cur.metadata.finalizers?.length ?? 0) > 0) {
      // finalizers hold it: it is only marked for deletion (once), as the API server does
      if (cur.metadata.deletionTimestamp) {
        this.reply(res, 200, cur);
        return;
      }
      const next = clone(cur);
      next.metadata.deletionTimestamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      next.metadata.resourceVersion = String(++this.rv);
      store.set(key, next);
      this.record(t, 'MODIFIED', next);
      this.reply(res, 200, next);
      return;
    }
    if (req.method === 'DELETE') {
      this.delete(t.plural, namespace, name!);
      this.reply(res, 200, { kind: 'Status', apiVersion: 'v1', status: 'Success', metadata: {} });
      return;
    }
    this.reply(res, 405, status(405, 'MethodNotAllowed', `${req.method} is not supported`));
  }

  private listPage(res: ServerResponse, t: ResourceType, namespace: string | undefined, query: Record<string, string>): void {
    let listRv = this.rv;
    let after = '';
    if (query.continue) {
      const token = JSON.parse(Buffer.from(query.continue, 'base64url').toString('utf8')) as { rv: number; after: string };
      if (token.rv < this.compactedRv) {
        this.reply(res, 410, status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.'));
        return;
      }
      listRv = token.rv;
      after = token.after;
    }
    const keys = [...this.stores.get(t)!.keys()].filter((k) => (namespace === undefined || k.startsWith(`${namespace}/`)) && k > after).sort();
    const limit = query.limit ? Number(query.limit) : Infinity;
    const page = keys.slice(0, limit);
    const more = keys.length > page.length;
    const store = this.stores.get(t)!;
    const metadata: Record<string, unknown> = { resourceVersion: String(listRv) };
    if (more) {
      metadata.continue = Buffer.from(JSON.stringify({ rv: listRv, after: page[page.length - 1] })).toString('base64url');
      metadata.remainingItemCount = keys.length - page.length;
    }
    this.reply(res, 200, { kind: `${t.kind}List`, apiVersion: apiVersionOf(t), metadata, items: page.map((k) => store.get(k)) });
  }

  private watch(res: ServerResponse, t: ResourceType, namespace: string | undefined, query: Record<string, string>): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { res, type: t, namespace, bookmarks: query.allowWatchBookmarks === 'true', timers: [], sentRv: this.rv };
    res.once('close', () => this.clearWatcher(w));
    const from = query.resourceVersion ?? '';
    if (from === '' || from === '0') {
      // "any version": the current state as ADDED, then changes
      for (const o of this.stores.get(t)!.values()) if (namespace === undefined || o.metadata.namespace === namespace) this.send(w, { type: 'ADDED', object: o });
    } else {
      const rv = Number(from);
      if (!Number.isFinite(rv) || rv < this.compactedRv) {
        this.send(w, { type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${this.rv})`) });
        res.end();
        return;
      }
      for (const e of this.history.get(t)!) {
        if (e.rv > rv && (namespace === undefined || e.object.metadata.namespace === namespace)) this.send(w, { type: e.type, object: e.object });
      }
    }
    this.watchers.add(w);
    if (query.timeoutSeconds) w.timers.push(setTimeout(() => this.closeWatcher(w), Number(query.timeoutSeconds) * 1000));
    if (w.bookmarks && this.opts.bookmarkIntervalMs > 0) {
      const tick = (): void => {
        this.bookmark(w);
        w.timers.push(setTimeout(tick, this.opts.bookmarkIntervalMs));
      };
      w.timers.push(setTimeout(tick, this.opts.bookmarkIntervalMs));
    }
  }
}

/** An Ingress as a user would write it (`spec.rules[].host` for each host, optional TLS hosts). */
export function ingress(
  namespace: string,
  name: string,
  hosts: string[],
  opts: { className?: string | null; tlsHosts?: string[]; annotations?: Record<string, string>; creationTimestamp?: string } = {},
): KubeObject {
  return {
    metadata: { name, namespace, ...(opts.annotations ? { annotations: opts.annotations } : {}), ...(opts.creationTimestamp ? { creationTimestamp: opts.creationTimestamp } : {}) },
    spec: {
      ...(opts.className === null ? {} : { ingressClassName: opts.className ?? 'nginx' }),
      ...(opts.tlsHosts ? { tls: [{ hosts: opts.tlsHosts, secretName: `${name}-tls` }] } : {}),
      rules: hosts.map((host) => ({
        host,
        http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: `${name}-svc`, port: { number: 80 } } } }] },
      })),
    },
  };
}
