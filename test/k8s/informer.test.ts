import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { createKubeApi, createResourceInformer, toIngressView, type IngressView, type ResourceInformer } from '@sluice/k8s-agent';
import { FakeKubeApi, ingress } from './support/fake-kube-api.ts';
import { kubeConfigFor, testLogger, waitFor } from './support/kube.ts';

const INGRESSES = '/apis/networking.k8s.io/v1/ingresses';

/**
 * The informer against a fake API server that speaks the list/watch protocol: what it asks for
 * (requests the server saw) and what it ends up knowing (its cache), through each fault.
 */
describe('Ingress informer over the list/watch protocol', () => {
  let api: FakeKubeApi;
  let informer: ResourceInformer<IngressView>;
  let changes = 0;

  const start = (opts: { pageSize?: number; initialMs?: number; maxMs?: number; watchIdleMs?: number } = {}): ResourceInformer<IngressView> => {
    const kube = kubeConfigFor(api);
    const client = createKubeApi(kube, 5_000);
    informer = createResourceInformer<IngressView>({
      name: 'ingresses',
      kube,
      path: INGRESSES,
      listPage: (limit, token) => client.listIngresses(limit, token),
      transform: toIngressView,
      pageSize: opts.pageSize ?? 500,
      watchTimeoutSeconds: 300,
      ...(opts.watchIdleMs ? { watchIdleMs: opts.watchIdleMs } : {}),
      backoff: { initialMs: opts.initialMs ?? 50, maxMs: opts.maxMs ?? 1_000 },
      logger: testLogger(),
      onChange: () => changes++,
    });
    informer.start();
    return informer;
  };
  const hosts = (): string[] => informer.list().flatMap((i) => i.spec.ruleHosts.filter((h): h is string => h !== null)).sort();
  const lists = (): number => api.count('GET', INGRESSES, 'list');
  const watches = (): number => api.count('GET', INGRESSES, 'watch');

  beforeEach(async () => {
    api = new FakeKubeApi();
    await api.start();
    changes = 0;
  });
  afterEach(async () => {
    await informer?.stop();
    await api.stop();
  });

  it('lists in pages, then follows a chunked watch (events split across chunks) from the list resourceVersion', async () => {
    for (let i = 0; i < 1_234; i++) api.create('ingresses', ingress(`ns${i % 7}`, `app${i}`, [`app${i}.example.test`]));
    const listRv = api.resourceVersion;
    start({ pageSize: 100 });
    await informer.whenSynced();
    expect(informer.list()).toHaveLength(1_234);
    expect(lists()).toBe(13); // 12 full pages of 100 and one of 34
    const firstPage = api.requests.find((r) => r.path === INGRESSES && r.query.watch === undefined)!;
    expect(firstPage.query.limit).toBe('100');
    await waitFor('the watch', () => api.openWatches('ingresses') === 1);
    const w = api.requests.find((r) => r.path === INGRESSES && r.query.watch === 'true')!;
    expect(w.query.resourceVersion).toBe(listRv);
    expect(w.query.allowWatchBookmarks).toBe('true');

    api.create('ingresses', ingress('shop', 'new', ['new.example.test']));
    api.update('ingresses', 'ns0', 'app0', (o) => ((o.spec as { rules: Array<{ host: string }> }).rules[0]!.host = 'renamed.example.test'));
    api.delete('ingresses', 'ns1', 'app1');
    await waitFor('the three changes', () => hosts().includes('new.example.test') && hosts().includes('renamed.example.test') && !hosts().includes('app1.example.test'));
    expect(informer.list()).toHaveLength(1_234);
    // the cache holds the agent's view, not whole objects
    const view = informer.list().find((i) => i.metadata.name === 'new')!;
    expect(view).toMatchObject({ metadata: { namespace: 'shop', name: 'new' }, spec: { ingressClassName: 'nginx', ruleHosts: ['new.example.test'] } });
    expect(JSON.stringify(view)).not.toContain('backend');
    expect(lists()).toBe(13);
  });

  it('resumes a dropped watch from the last resourceVersion it saw, without listing again', async () => {
    api.create('ingresses', ingress('a', 'one', ['one.example.test']));
    start();
    await informer.whenSynced();
    await waitFor('the watch', () => api.openWatches('ingresses') === 1);
    api.create('ingresses', ingress('a', 'two', ['two.example.test']));
    await waitFor('two', () => hosts().includes('two.example.test'));
    const seen = api.resourceVersion;

    api.dropWatches(); // the connection is cut mid-stream
    api.create('ingresses', ingress('a', 'three', ['three.example.test'])); // while nobody watches
    await waitFor('three after the reconnect', () => hosts().includes('three.example.test'));
    expect(lists()).toBe(1);
    const resumed = api.requests.filter((r) => r.path === INGRESSES && r.query.watch === 'true').at(-1)!;
    expect(resumed.query.resourceVersion).toBe(seen);
    expect(informer.stats.errors).toBeGreaterThanOrEqual(1);
  });

  it('a clean end of the stream (the server’s timeout) resumes the watch at once', async () => {
    start();
    await informer.whenSynced();
    await waitFor('the watch', () => api.openWatches('ingresses') === 1);
    const before = watches();
    api.endWatches();
    await waitFor('a new watch', () => watches() > before && api.openWatches('ingresses') === 1);
    api.create('ingresses', ingress('b', 'x', ['x.example.test']));
    await waitFor('x', () => hosts().includes('x.example.test'));
    expect(lists()).toBe(1);
  });

  it('a watch gone silent (connection lost without a FIN) is replaced after its idle limit and resumes', async () => {
    start({ watchIdleMs: 600 });
    await informer.whenSynced();
    await waitFor('the watch', () => api.openWatches('ingresses') === 1);
    api.freezeWatches(); // nothing arrives any more, and nothing closes
    api.create('ingresses', ingress('c', 'late', ['late.example.test']));
    await waitFor('late, through a new watch', () => hosts().includes('late.example.test'), 5_000);
    expect(watches()).toBe(2);
    expect(lists()).toBe(1);
  });

  it('410 Gone on resume (history compacted) forces a re-list that also finds what was deleted meanwhile', async () => {
    api.create('ingresses', ingress('a', 'keep', ['keep.example.test']));
    api.create('ingresses', ingress('a', 'gone', ['gone.example.test']));
    start();
    await informer.whenSynced();
    await waitFor('the watch', () => api.openWatches('ingresses') === 1);
    await informer.stop(); // the agent is away for a while...
    api.delete('ingresses', 'a', 'gone');
    api.create('ingresses', ingress('a', 'added', ['added.example.test']));
    api.compact(); // ...longer than the API server keeps history
    informer.start();
    await waitFor('the re-list', () => lists() === 2);
    await waitFor('the relisted state', () => hosts().join() === 'added.example.test,keep.example.test');
    // the resume was answered with an ERROR event carrying 410, then a fresh list, then a watch from it
    const resumes = api.requests.filter((r) => r.path === INGRESSES && r.query.watch === 'true');
    expect(resumes.length).toBeGreaterThanOrEqual(2);
    await waitFor('the new watch', () => api.openWatches('ingresses') === 1);
  });

  it('an ERROR 410 event in an open stream (watch expired) also forces a re-list', async () => {
    api.create('ingresses', ingress('a', 'one', ['one.example.test']));
    start();
    await informer.whenSynced();
    await waitFor('the watch', () => api.openWatches('ingresses') === 1);
    api.expireWatches();
    await waitFor('the re-list', () => lists() === 2);
    await waitFor('the new watch', () => api.openWatches('ingresses') === 1);
    api.create('ingresses', ingress('a', 'two', ['two.example.test']));
    await waitFor('two', () => hosts().includes('two.example.test'));
  });

  it('BOOKMARKs keep a quiet watch resumable past compaction; without one the same resume needs a re-list', async () => {
    api.create('ingresses', ingress('a', 'one', ['one.example.test']));
    start();
    await informer.whenSynced();
    await waitFor('the watch', () => api.openWatches('ingresses') === 1);

    // other resources change (the shared resourceVersion moves on), no Ingress does
    api.bumpResourceVersion(50);
    api.sendBookmarks();
    await waitFor('the bookmark', () => informer.stats.lastBookmark === api.resourceVersion);
    api.compact();
    api.dropWatches();
    await waitFor('the resumed watch', () => watches() === 2 && api.openWatches('ingresses') === 1);
    expect(api.requests.filter((r) => r.query.watch === 'true').at(-1)!.query.resourceVersion).toBe(api.resourceVersion);
    expect(lists()).toBe(1);

    // the same without a bookmark: the resume is too old
    api.bumpResourceVersion(50);
    api.compact();
    api.dropWatches();
    await waitFor('the re-list', () => lists() === 2);
    expect(informer.list()).toHaveLength(1);
  });

  it('with the API server unreachable it keeps its cache, retries with growing backoff, and resumes when it is back', async () => {
    api.create('ingresses', ingress('a', 'one', ['one.example.test']));
    start({ initialMs: 100, maxMs: 800 });
    await informer.whenSynced();
    await waitFor('the watch', () => api.openWatches('ingresses') === 1);

    await api.goDown('reset'); // every connection reset at once
    await new Promise((r) => setTimeout(r, 3_000));
    const attempts = [...api.resetConnections];
    // 100, 200, 400, 800, 800... ±20%: about 6 in 3 s; a client without backoff would make hundreds
    expect(attempts.length).toBeGreaterThanOrEqual(3);
    expect(attempts.length).toBeLessThanOrEqual(10);
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    expect(gaps[0]!).toBeLessThan(gaps.at(-1)! + 50);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(800 + 400); // the cap, plus timer lateness on a busy machine
    expect(hosts()).toEqual(['one.example.test']); // what it knew is kept

    api.create('ingresses', ingress('a', 'two', ['two.example.test'])); // changed while away
    await api.comeBack();
    await waitFor('two', () => hosts().includes('two.example.test'), 5_000);
    expect(lists()).toBe(1); // resumed from its resourceVersion
  });

  it('with the port closed (connection refused) it also retries and recovers', async () => {
    start({ initialMs: 100, maxMs: 400 });
    await informer.whenSynced();
    await waitFor('the watch', () => api.openWatches('ingresses') === 1);
    await api.goDown('refuse');
    await waitFor('some failures', () => informer.stats.errors >= 3, 5_000);
    expect(informer.stats.lastError).toMatch(/ECONNREFUSED|refused/i);
    await api.comeBack();
    api.create('ingresses', ingress('a', 'back', ['back.example.test']));
    await waitFor('back', () => hosts().includes('back.example.test'), 5_000);
  });
});
