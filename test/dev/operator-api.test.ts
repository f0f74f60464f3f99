import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { devCodecs, tunnelRoutes } from '@sluice/contracts';
import { createOperator, parseOperatorConfig, tunnelDeploymentName, type Operator } from '@sluice/operator';
import { FakeKubeApi, type KubeObject } from '../k8s/support/fake-kube-api.ts';
import { kubeConfigFor, testLogger, waitFor } from '../k8s/support/kube.ts';
import { serviceObject } from './support/cluster.ts';

const NS = 'shop';
type Dep = KubeObject & { spec: { template: { spec: { containers: Array<{ env: Array<{ name: string; value?: string }> }> } } } };
type Ic = KubeObject & { status?: Record<string, any> };

const interceptOf = (name: string, service: string, port = 8080): KubeObject => ({
  metadata: { name, namespace: NS },
  spec: { service, port, hostname: `i-${name}.dev.alice.local.sluice.localhost`, agentId: `agent-${name}`, holder: 'alice', client: 'laptop' },
});

/**
 * The operator's REST API on real sockets (the operator in this process, the fake Kubernetes API
 * server in this process too): what a tunnel pod may report, and every way a report can be wrong,
 * each answered with a 4xx and a message that says what was wrong, never a 500.
 */
describe('operator REST API (tunnel pod reports)', () => {
  let api: FakeKubeApi;
  let operator: Operator;
  let metrics: Registry;
  let base: string;
  let alt: string;
  const tunnels: Record<string, { id: string; token: string; pod: string }> = {};

  const send = async (method: string, path: string, body: unknown, headers: Record<string, string> = {}, to = base): Promise<{ status: number; json: any }> => {
    const res = await fetch(to + path, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, json };
  };
  const auth = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
  const status = (t: { id: string; token: string; pod: string }, state = 'connected', extra: Record<string, unknown> = {}): Promise<{ status: number; json: any }> =>
    send('PUT', tunnelRoutes.status(t.id), { v: 1, pod: t.pod, state, ...extra }, auth(t.token));

  beforeAll(async () => {
    api = new FakeKubeApi({ devMode: true });
    await api.start();
    api.create('services', serviceObject(NS, 'checkout', { app: 'checkout' }, [{ port: 8080, targetPort: 'http' }]));
    api.create('services', serviceObject(NS, 'cart', { app: 'cart' }, [{ port: 80, targetPort: 3000 }]));
    api.create('intercepts', interceptOf('checkout', 'checkout'));
    api.create('intercepts', interceptOf('cart', 'cart', 80));
    metrics = new Registry();
    operator = createOperator(parseOperatorConfig({ namespaces: [NS], api: { host: '127.0.0.1', ports: [0, 0] }, heartbeatTimeoutMs: 60_000 }), { kube: kubeConfigFor(api), logger: testLogger('operator'), metrics });
    await operator.start();
    const [p1, p2] = operator.apiPorts();
    base = `http://127.0.0.1:${p1}`;
    alt = `http://127.0.0.1:${p2}`;
    for (const name of ['checkout', 'cart']) {
      const dep = await waitFor(`the ${name} tunnel Deployment`, () => api.get('deployments', NS, tunnelDeploymentName(name)) as Dep | undefined);
      const env = dep.spec.template.spec.containers[0]!.env;
      const value = (k: string): string => env.find((e) => e.name === k)!.value!;
      tunnels[name] = { id: value('TUNNEL_ID'), token: value('TUNNEL_TOKEN'), pod: `${tunnelDeploymentName(name)}-5f6d7c8b9-abcde` };
      const waiting = await waitFor(`${name} Waiting`, () => ((api.get('intercepts', NS, name) as Ic).status?.phase === 'Waiting' ? (api.get('intercepts', NS, name) as Ic) : undefined));
      expect(waiting.status).toMatchObject({ tunnelId: value('TUNNEL_ID'), serviceTarget: 'original' });
    }
  });
  afterAll(async () => {
    await operator?.stop();
    await api?.stop();
  });

  it('takes a status report from the tunnel’s own pod on either port, answers with the contracts’ reply, and switches the Service', async () => {
    const t = tunnels.checkout!;
    const r = await status(t, 'connected');
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(devCodecs.tunnelReportReply.check(r.json)).toBe(true);
    expect(r.json).toMatchObject({ v: 1, tunnelId: t.id, state: 'connected', heartbeatTimeoutMs: 60_000 });
    await waitFor('the Service on the tunnel pod', () => (api.get('services', NS, 'checkout') as any).spec.selector['sluice.dev/tunnel-id'] === t.id);
    const hb = await send('POST', tunnelRoutes.heartbeat(t.id), { v: 1, pod: t.pod, state: 'connected', activeConnections: 3 }, auth(t.token), alt);
    expect(hb.status).toBe(200);
    expect(hb.json.serviceTarget).toBe('tunnel');
    // a named targetPort: the tunnel pod serves it on a container port of that name
    const dep = api.get('deployments', NS, tunnelDeploymentName('checkout')) as any;
    expect(dep.spec.template.spec.containers[0].ports[0]).toMatchObject({ name: 'http', containerPort: 8080 });
    const off = await status(t, 'disconnected', { reason: 'no heartbeat from the agent' });
    expect(off.status).toBe(200);
    await waitFor('the Service back on its own pods', () => (api.get('services', NS, 'checkout') as any).spec.selector.app === 'checkout');
    // the Service is written first, then the Intercept's status
    const back = await waitFor('the Intercept Disconnected', () => ((api.get('intercepts', NS, 'checkout') as Ic).status?.phase === 'Disconnected' ? (api.get('intercepts', NS, 'checkout') as Ic) : undefined));
    expect(back.status).toMatchObject({ phase: 'Disconnected', message: 'service checkout is back on its own pods: no heartbeat from the agent' });
  });

  it('rejects malformed bodies with 400 and a message naming what is wrong', async () => {
    const t = tunnels.checkout!;
    const path = tunnelRoutes.status(t.id);
    const cases: Array<[unknown, RegExp]> = [
      ['{"v":1,', /^Body is not valid JSON but content-type is set to 'application\/json'$/],
      [{ v: 1, pod: t.pod }, /^body must have required property 'state'$/],
      [{ v: 1, pod: t.pod, state: 'maybe' }, /^body\/state must be one of "connected", "disconnected"$/],
      [{ v: 2, pod: t.pod, state: 'connected' }, /^body\/v must be equal to constant$/],
      [{ v: 1, pod: t.pod, state: 'connected', extra: true }, /^body must NOT have additional properties$/],
      [{ v: 1, pod: 'Not_A_Pod', state: 'connected' }, /^body\/pod must match pattern/],
      [{ v: 1, pod: t.pod, state: 'connected', reason: 'x'.repeat(300) }, /^body\/reason must NOT have more than 256 characters$/],
      [[1, 2, 3], /^body must be object$/],
      ['null', /^body must be object$/],
    ];
    for (const [body, message] of cases) {
      const r = await send('PUT', path, body, auth(t.token));
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.code).toBe('SLUICE_INVALID_REQUEST');
      expect(r.json.error.message, JSON.stringify(body)).toMatch(message);
    }
    const hb = await send('POST', tunnelRoutes.heartbeat(t.id), { v: 1, pod: t.pod, state: 'connected', activeConnections: -1 }, auth(t.token));
    expect(hb.status).toBe(400);
    expect(hb.json.error.message).toBe('body/activeConnections must be >= 0');
    const empty = await send('PUT', path, '', auth(t.token));
    expect(empty.status).toBe(400);
    expect(empty.json.error.message).toBe("Body cannot be empty when content-type is set to 'application/json'");
    const text = await fetch(base + path, { method: 'PUT', headers: { 'content-type': 'text/plain', ...auth(t.token) }, body: 'connected' });
    expect(text.status).toBe(415);
    expect(((await text.json()) as any).error).toEqual({ code: 'SLUICE_UNSUPPORTED_MEDIA_TYPE', message: 'content-type must be application/json (got "text/plain")' });
    const big = await send('PUT', path, { v: 1, pod: t.pod, state: 'connected', reason: 'x'.repeat(20_000) }, auth(t.token));
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe('SLUICE_BODY_TOO_LARGE');
  });

  it('rejects unknown or malformed tunnel ids', async () => {
    const t = tunnels.checkout!;
    const unknown = await send('PUT', tunnelRoutes.status('nosuchtunnel'), { v: 1, pod: t.pod, state: 'connected' }, auth(t.token));
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toEqual({ code: 'SLUICE_UNKNOWN_TUNNEL', message: 'no Intercept has tunnel id "nosuchtunnel" in the namespaces this operator serves (shop): it was deleted, or the id is wrong' });
    const bad = await send('PUT', '/v1/tunnels/a.b%20c/status', { v: 1, pod: t.pod, state: 'connected' }, auth(t.token));
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toMatch(/^params\/tunnelId must match pattern/);
    const long = await send('POST', tunnelRoutes.heartbeat('x'.repeat(65)), { v: 1, pod: t.pod, state: 'connected', activeConnections: 0 }, auth(t.token));
    expect(long.status).toBe(400);
    const route = await send('GET', '/v1/tunnels', undefined);
    expect(route.status).toBe(404);
    expect(route.json.error.code).toBe('SLUICE_NOT_FOUND');
  });

  it('rejects reports from pods that do not belong to that intercept', async () => {
    const checkout = tunnels.checkout!;
    const cart = tunnels.cart!;
    const none = await send('PUT', tunnelRoutes.status(checkout.id), { v: 1, pod: checkout.pod, state: 'connected' });
    expect(none.status).toBe(401);
    expect(none.json.error.message).toMatch(/^missing or malformed Authorization header/);
    const malformed = await send('PUT', tunnelRoutes.status(checkout.id), { v: 1, pod: checkout.pod, state: 'connected' }, { authorization: `Basic ${checkout.token}` });
    expect(malformed.status).toBe(401);
    // cart's tunnel pod, with its own token, reporting for checkout's tunnel
    const other = await send('PUT', tunnelRoutes.status(checkout.id), { v: 1, pod: cart.pod, state: 'connected' }, auth(cart.token));
    expect(other.status).toBe(403);
    expect(other.json.error).toEqual({ code: 'SLUICE_FORBIDDEN', message: `this token is not tunnel ${checkout.id}'s: a tunnel pod reports only for its own Intercept (shop/checkout)` });
    // checkout's token (leaked) from a pod that is not checkout's tunnel pod
    const wrongPod = await send('POST', tunnelRoutes.heartbeat(checkout.id), { v: 1, pod: 'sluice-tunnel-cart-5f6d7c8b9-abcde', state: 'connected', activeConnections: 0 }, auth(checkout.token));
    expect(wrongPod.status).toBe(403);
    expect(wrongPod.json.error.message).toBe(`pod "sluice-tunnel-cart-5f6d7c8b9-abcde" is not a pod of tunnel ${checkout.id}: its pods are named sluice-tunnel-checkout-…`);
    // none of it moved the Service
    expect((api.get('services', NS, 'checkout') as any).spec.selector).toEqual({ app: 'checkout' });
    const text = await metrics.metrics();
    expect(text).toMatch(/sluice_operator_tunnel_reports_total\{kind="status",result="forbidden"\} [1-9]/);
    expect(text).toMatch(/sluice_operator_api_responses_total\{route="\/v1\/tunnels\/:tunnelId\/status",status="401"\} [1-9]/);
  });

  it('never answers 5xx, whatever the body, path or headers', async () => {
    const t = tunnels.cart!;
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(t.id, 'nosuchtunnel', 'x.y', '%00', 'ü'),
        fc.constantFrom('status', 'heartbeat'),
        fc.oneof(fc.json(), fc.string(), fc.record({ v: fc.constantFrom(1, 2, '1'), pod: fc.constantFrom(t.pod, 'p', ''), state: fc.constantFrom('connected', 'disconnected', 'x'), activeConnections: fc.integer(), reason: fc.string() }, { requiredKeys: [] })),
        fc.constantFrom(`Bearer ${t.token}`, `Bearer ${tunnels.checkout!.token}`, 'Bearer x', '', 'Bearer ' + 'a'.repeat(200)),
        async (id, kind, body, authorization) => {
          const r = await fetch(`${base}/v1/tunnels/${encodeURIComponent(id)}/${kind}`, {
            method: kind === 'status' ? 'PUT' : 'POST',
            headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
            body: typeof body === 'string' ? body : JSON.stringify(body),
          });
          seen.add(r.status);
          const j = (await r.json()) as any;
          expect(r.status).toBeLessThan(500);
          if (r.status >= 400) expect(typeof j.error.message).toBe('string');
        },
      ),
      { numRuns: 150 },
    );
    expect([...seen].every((s) => [200, 400, 401, 403, 404].includes(s))).toBe(true);
  });

  it('serves its OpenAPI document at /openapi.json', async () => {
    const doc = (await (await fetch(`${alt}/openapi.json`)).json()) as any;
    expect(doc.openapi).toBe('3.0.3');
    expect(Object.keys(doc.paths).sort()).toEqual(['/v1/tunnels/{tunnelId}/heartbeat', '/v1/tunnels/{tunnelId}/status']);
    expect(doc.paths['/v1/tunnels/{tunnelId}/status'].put.requestBody.content['application/json'].schema.required).toEqual(['v', 'pod', 'state']);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });

  it('marks Intercepts that cannot work as Failed, with why', async () => {
    api.create('intercepts', interceptOf('nosvc', 'payments'));
    // cart is intercepted already: a spec that cannot work fails whoever holds the Service
    api.create('intercepts', interceptOf('noport', 'cart', 9999));
    const failed = (name: string) => waitFor(`${name} Failed`, () => {
      const o = api.get('intercepts', NS, name) as Ic;
      return o.status?.phase === 'Failed' ? o : undefined;
    });
    expect((await failed('nosvc')).status!.message).toBe('service shop/payments does not exist');
    expect((await failed('noport')).status!.message).toBe('service shop/cart has no port 9999 (its ports: 80)');
    // it never touched the Service, nor made a pod
    expect(api.get('deployments', NS, tunnelDeploymentName('noport'))).toBeUndefined();
  });
});
