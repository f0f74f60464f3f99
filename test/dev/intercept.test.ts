import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { agentInboxPrefix, codecs, devCodecs, devSubjects, streams, subjects, consumers, type DevEvent } from '@sluice/contracts';
import { freePort, spawnService, type ServiceProcess } from '@sluice/testing';
import { FakeKubeApi, type KubeObject } from '../k8s/support/fake-kube-api.ts';
import { waitFor } from '../k8s/support/kube.ts';
import { get } from '../support/http.ts';
import { podObject, runTunnelPod, serviceObject, startServiceProxy, type ServiceProxy, type TunnelPod } from './support/cluster.ts';
import { startDevGateway, type DevGateway } from './support/gateway.ts';
import { cliOnce, runCli, type CliRun } from './support/cli.ts';

const NS = 'shop';
const SERVICE = 'checkout';
const DEPLOYMENT = 'sluice-tunnel-checkout';
/** The operator's heartbeat timeout here (15 s by default): a tunnel pod silent this long counts as gone. */
const HEARTBEAT_TIMEOUT_MS = 2_500;
/** The tunnel pod's: the developer's agent silent this long counts as gone. */
const AGENT_TIMEOUT_MS = 1_500;
const ORIGINAL_SELECTOR = { app: 'checkout' };

type Svc = KubeObject & { spec: { selector: Record<string, string> } };
type Ic = KubeObject & { spec: Record<string, any>; status?: Record<string, any> };

/**
 * Developer mode end to end, every part real and in its own process: nats-server in operator mode,
 * the registry (issuing each agent its own NATS credentials) and the router; the operator against
 * the fake Kubernetes API server (list/watch); the CLI as a developer runs it; the tunnel pod from
 * the Deployment the operator wrote. The test plays only what a cluster would: the kubelet (it
 * runs the tunnel pod's container and writes its Pod), kube-proxy (the Service's address goes to
 * whatever pods the Service selects at connect time) and the original pods (a plain HTTP server).
 */
describe('developer mode: sluice dev intercept, end to end', () => {
  let gw: DevGateway;
  let api: FakeKubeApi;
  let kubeconfig: string;
  let originalPods: Server;
  let laptop: Server;
  let laptopPort: number;
  let proxy: ServiceProxy;
  let operator: ServiceProcess;
  let operatorPorts: number[];
  let operatorCreds: string;
  let tunnelCreds: string;
  let aliceToken: string;
  let bobToken: string;
  let watcher: NatsConnection;
  const events: DevEvent[] = [];
  const runs: CliRun[] = [];
  const pods: TunnelPod[] = [];

  const startOperator = (): Promise<ServiceProcess> =>
    spawnService('operator', 'services/operator/src/main.ts', {
      KUBECONFIG: kubeconfig,
      NATS_URL: gw.natsUrl,
      NATS_CREDS: operatorCreds,
      OPERATOR_CONFIG_JSON: JSON.stringify({
        namespaces: [NS],
        api: { host: '127.0.0.1', ports: operatorPorts },
        heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
        resyncMs: 5_000,
        tunnel: { natsCredsSecret: 'sluice-tunnel-nats', agentTimeoutMs: AGENT_TIMEOUT_MS },
      }),
    });
  const cliEnv = (token: string): Record<string, string> => ({
    KUBECONFIG: kubeconfig,
    SLUICE_API: gw.apiUrl,
    SLUICE_TOKEN: token,
    // no stored `sluice login` of the machine running the tests
    XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'sluice-dev-home-')),
  });
  const intercept = (token: string, port = `8080:${laptopPort}`): CliRun => {
    const r = runCli(['dev', 'intercept', SERVICE, '--namespace', NS, '--port', port, '--json'], cliEnv(token));
    runs.push(r);
    return r;
  };
  const startTunnelPod = async (): Promise<TunnelPod> => {
    const p = await runTunnelPod(api, NS, DEPLOYMENT, { operatorUrl: `http://127.0.0.1:${operatorPorts[0]}`, natsUrl: gw.natsUrl, natsCredsFile: tunnelCreds });
    pods.push(p);
    return p;
  };
  const selector = (): Record<string, string> => (api.get('services', NS, SERVICE) as Svc).spec.selector;
  const intercepted = (): Ic | undefined => api.get('intercepts', NS, SERVICE) as Ic | undefined;
  /** A client pod's request to the Service's address. */
  const request = async (path: string): Promise<string> => {
    const r = await get(proxy.port, `${SERVICE}.${NS}.svc.cluster.local:8080`, path);
    expect(r.status).toBe(200);
    return r.body.toString();
  };

  beforeAll(async () => {
    gw = await startDevGateway();
    [aliceToken, bobToken] = await Promise.all([gw.createUser('alice'), gw.createUser('bob')]);
    api = new FakeKubeApi({ devMode: true });
    await api.start();
    kubeconfig = api.writeKubeconfig();
    originalPods = createServer((req, res) => res.end(`original pod: ${req.url}`));
    await new Promise<void>((r) => originalPods.listen(0, '127.0.0.1', r));
    laptop = createServer((req, res) => res.end(`laptop: ${req.url}`));
    await new Promise<void>((r) => laptop.listen(0, '127.0.0.1', r));
    laptopPort = (laptop.address() as AddressInfo).port;
    api.create('services', serviceObject(NS, SERVICE, ORIGINAL_SELECTOR, [{ name: 'http', port: 8080, targetPort: 8080 }]));
    api.create('pods', podObject(NS, 'checkout-7c9d4-x2kqp', { app: 'checkout', tier: 'web' }, (originalPods.address() as AddressInfo).port));
    proxy = await startServiceProxy(api, NS, SERVICE);
    operatorPorts = [await freePort(), await freePort()];
    [operatorCreds, tunnelCreds] = await Promise.all([gw.auth.serviceCredsFile('operator'), gw.auth.serviceCredsFile('tunnel')]);
    operator = await startOperator();
    watcher = await gw.auth.connect(await gw.auth.serviceCreds('watcher'));
    watcher.subscribe(devSubjects.eventsAll, { callback: (_e, m) => void events.push(devCodecs.devEvent.decode(m.data)) });
    expect(await request('/before')).toBe('original pod: /before');
  });

  afterAll(async () => {
    for (const r of runs) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    await Promise.all(pods.map((p) => p.process.kill()));
    await watcher?.close();
    await operator?.stop(10_000);
    await proxy?.close();
    originalPods?.close();
    laptop?.close();
    await api?.stop();
    await gw?.stop();
  });

  let alice: CliRun;
  let pod: TunnelPod;

  it('full path: a client pod’s request to the Service reaches the local process and its answer comes back; 100 concurrent requests all answered', async () => {
    alice = intercept(aliceToken);
    const waiting = await alice.event('waiting');
    expect(waiting).toMatchObject({ namespace: NS, service: SERVICE, port: 8080, local: laptopPort, holder: 'alice' });
    // the operator ran a tunnel pod; the Service still goes to its own pods until it reports connected
    await waitFor('the tunnel Deployment', () => api.get('deployments', NS, DEPLOYMENT), 15_000);
    expect(selector()).toEqual(ORIGINAL_SELECTOR);
    expect(intercepted()?.status?.originalSelector).toEqual(ORIGINAL_SELECTOR);
    pod = await startTunnelPod();
    await alice.event('active', 20_000);
    const ic = intercepted()!;
    expect(ic.status).toMatchObject({ phase: 'Active', serviceTarget: 'tunnel', tunnelState: 'connected', originalSelector: ORIGINAL_SELECTOR });
    expect(selector()).toEqual({ 'sluice.dev/app': 'tunnel', 'sluice.dev/tunnel-id': ic.status!.tunnelId });
    expect(await request('/hello?x=1')).toBe('laptop: /hello?x=1');
    expect(proxy.lastPod).toBe(pod.name);

    const t0 = performance.now();
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => request(`/concurrent/${i}`)));
    const ms = performance.now() - t0;
    expect(answers).toEqual(Array.from({ length: 100 }, (_, i) => `laptop: /concurrent/${i}`));
    process.stderr.write(`100 concurrent requests through Service → tunnel pod → NATS → CLI agent → local process: ${ms.toFixed(0)} ms\n`);

    const listed = await cliOnce(['dev', 'list', '--namespace', NS, '--json'], cliEnv(bobToken));
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ namespace: NS, service: SERVICE, port: 8080, localPort: laptopPort, holder: 'alice', phase: 'Active', serviceTarget: 'tunnel', tunnel: 'connected' })]);
    const table = await cliOnce(['dev', 'list', '-n', NS], cliEnv(bobToken));
    expect(table.stdout).toMatch(/^NAMESPACE\s+SERVICE\s+PORT\s+HOLDER\s+PHASE/m);
    expect(table.stdout).toMatch(new RegExp(`^shop\\s+checkout\\s+8080→${laptopPort}\\s+alice\\s+Active\\s+tunnel\\s+connected`, 'm'));
    expect(events.map((e) => e.kind)).toContain('intercept-active');
  });

  it('a second developer intercepting the same Service is refused with a message naming who holds it', async () => {
    const bob = intercept(bobToken, '8080:9');
    expect(await bob.exit, bob.stderr()).toBe(1);
    expect(bob.stderr()).toMatch(/service shop\/checkout is already intercepted by alice \(on [^)]+\) since \S+Z; only one developer at a time/);
    // the same through the API server directly (an Intercept of another name): the operator refuses it
    api.create('intercepts', { metadata: { name: 'checkout-bob', namespace: NS }, spec: { service: SERVICE, port: 8080, hostname: 'x.bob.local.sluice.localhost', agentId: 'bobsagent', holder: 'bob' } });
    const refused = await waitFor('the second Intercept refused', () => {
      const o = api.get('intercepts', NS, 'checkout-bob') as Ic;
      return o.status?.phase === 'Refused' ? o : undefined;
    });
    expect(refused.status!.message).toMatch(/^service shop\/checkout is already intercepted by alice \(on [^)]+\) through Intercept checkout since \S+; alice ends it with `sluice dev leave checkout --namespace shop`$/);
    expect(refused.metadata.finalizers ?? []).toEqual([]);
    expect(api.get('deployments', NS, 'sluice-tunnel-checkout-bob')).toBeUndefined();
    expect(events.some((e) => e.kind === 'intercept-refused' && e.name === 'checkout-bob' && e.holder === 'bob')).toBe(true);
    api.delete('intercepts', NS, 'checkout-bob');
    // nothing changed for alice
    expect(await request('/still-alice')).toBe('laptop: /still-alice');
  });

  it('credentials: another developer’s agent credentials cannot receive this intercept’s streams nor claim its route', async () => {
    const ic = intercepted()!;
    const aliceAgent = ic.spec.agentId as string;
    // bob's own intercept agent, as his CLI gets it from the registry
    const created = await gw.call<{ hostname: string; credentials: { agentId: string; natsCreds: string } }>(bobToken, 'POST', '/v1/agents', { name: 'dev-cart-shop' });
    expect(created.status).toBe(201);
    const bobAgent = created.body.credentials.agentId;
    const nc = await gw.auth.connect(created.body.credentials.natsCreds, { inboxPrefix: agentInboxPrefix(bobAgent) });
    try {
      const own = nc.subscribe(subjects.dataForAgent('core', bobAgent));
      const theirs = [
        nc.subscribe(subjects.dataForAgent('core', aliceAgent)),
        nc.subscribe(subjects.dataForAgent('jetstream', aliceAgent)),
        nc.subscribe(subjects.connAssigned(aliceAgent)),
        nc.subscribe(`${agentInboxPrefix(aliceAgent)}.>`),
      ];
      for (const sub of theirs) {
        const closed = await Promise.race([sub.closed, new Promise((r) => setTimeout(() => r('still open'), 5_000))]);
        expect(String(closed), sub.getSubject()).toMatch(/Permissions Violation for Subscription to "/);
      }
      // her JetStream consumers (the bytes of her connections, her assignments) are not his to pull
      for (const durable of [consumers.agentData(aliceAgent), consumers.agentAssignments(aliceAgent)]) {
        const stream = durable.startsWith('assign') ? streams.ctrl.name : streams.data.name;
        const next = `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`;
        await expect(nc.request(next, JSON.stringify({ batch: 1, expires: 1_000_000_000 }), { timeout: 2_000 })).rejects.toThrow(`Permissions Violation for Publish to "${next}"`);
      }
      // and the registry will not route her intercept's name to him
      const reply = codecs.registerReply.decode(
        (await nc.request(subjects.registryAgentRegister(bobAgent), codecs.registerRequest.encode({ v: 1, agentId: bobAgent, transport: 'jetstream', hostnames: [ic.spec.hostname as string], generate: false }), { timeout: 5_000 })).data,
      );
      expect(reply.accepted).toEqual([]);
      expect(reply.refused).toEqual([{ hostname: ic.spec.hostname, reason: expect.stringMatching(/not owned/) }]);
      // his own subjects are his
      await nc.flush();
      expect(own.isClosed()).toBe(false);
    } finally {
      await nc.close();
      await gw.call(bobToken, 'DELETE', '/v1/agents/dev-cart-shop');
    }
    expect(await request('/after-bob')).toBe('laptop: /after-bob');
  });

  it('the intercept’s route name reached through a public edge never gets to the laptop: its agent takes only tunnel pods’ connections', async () => {
    const hostname = intercepted()!.spec!.hostname as string;
    let laptopConnections = 0;
    const count = (): void => void laptopConnections++;
    laptop.on('connection', count);
    const edge = await spawnService('public-edge', 'services/edge/src/main.ts', {
      NATS_URL: gw.natsUrl,
      NATS_CREDS: await gw.auth.serviceCredsFile('public-edge'),
      EDGE_HTTP_PORT: String(await freePort()),
      EDGE_TLS_PORT: String(await freePort()),
      OPS_PORT: '0',
    });
    try {
      // a TLS ClientHello naming the route: the edge routes it by SNI, the developer's agent refuses it
      const closed = await new Promise<string>((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port: Number(edge.ready.tls), servername: hostname, rejectUnauthorized: false });
        s.on('error', (e) => resolve(`error: ${e.message}`));
        s.on('close', () => resolve('closed'));
        s.setTimeout(15_000, () => s.destroy(new Error('no answer')));
      });
      expect(closed).not.toMatch(/no answer/);
      expect(laptopConnections).toBe(0);
      // the tunnel pod's connections still do
      expect(await request('/still-mine')).toBe('laptop: /still-mine');
      expect(laptopConnections).toBeGreaterThan(0);
    } finally {
      laptop.off('connection', count);
      await edge.stop(10_000);
    }
  });

  it('the operator restarted (killed) mid-intercept loses nothing: the Service stays on the tunnel, the original selector is kept', async () => {
    await operator.kill();
    // the data path does not go through the operator
    expect(await request('/operator-down')).toBe('laptop: /operator-down');
    operator = await startOperator();
    // past one heartbeat timeout of the new process: it has heard the tunnel pod again and kept everything
    await new Promise((r) => setTimeout(r, HEARTBEAT_TIMEOUT_MS + 1_000));
    const ic = intercepted()!;
    expect(ic.status).toMatchObject({ phase: 'Active', serviceTarget: 'tunnel', originalSelector: ORIGINAL_SELECTOR });
    expect(selector()['sluice.dev/tunnel-id']).toBe(ic.status!.tunnelId);
    expect(await request('/operator-back')).toBe('laptop: /operator-back');
    expect(operator.logs()).not.toMatch(/service selector switched/);
  });

  it('the CLI killed with SIGKILL: within the heartbeat timeout the Service selector is back to the original and the original pods answer', async () => {
    const t0 = performance.now();
    alice.child.kill('SIGKILL');
    await waitFor('the original selector', () => JSON.stringify(selector()) === JSON.stringify(ORIGINAL_SELECTOR), HEARTBEAT_TIMEOUT_MS + 5_000, 20);
    const ms = performance.now() - t0;
    process.stderr.write(`CLI SIGKILLed → Service selector back to the original after ${ms.toFixed(0)} ms (agent timeout ${AGENT_TIMEOUT_MS} ms, heartbeat timeout ${HEARTBEAT_TIMEOUT_MS} ms)\n`);
    expect(ms).toBeLessThan(HEARTBEAT_TIMEOUT_MS + 1_000);
    expect(await request('/after-kill')).toBe('original pod: /after-kill');
    const ic = await waitFor('status Disconnected', () => (intercepted()?.status?.phase === 'Disconnected' ? intercepted() : undefined));
    expect(ic.status).toMatchObject({ serviceTarget: 'original', tunnelState: 'disconnected' });
    expect(ic.status!.message).toMatch(/no heartbeat from agent|missed its heartbeats/);
    expect(events.map((e) => e.kind)).toContain('intercept-restored');
  });

  it('the tunnel pod stops reporting: the Service goes back within the heartbeat timeout; a new pod and Ctrl-C end it all cleanly', async () => {
    // the developer starts again: their own intercept is taken over (same agent, same route, same pod)
    const again = intercept(aliceToken);
    await again.event('active', 20_000);
    expect(await request('/again')).toBe('laptop: /again');
    const from = again.lines.length;

    const t0 = performance.now();
    await pod.kill();
    await waitFor('the original selector', () => JSON.stringify(selector()) === JSON.stringify(ORIGINAL_SELECTOR), HEARTBEAT_TIMEOUT_MS + 5_000, 20);
    const ms = performance.now() - t0;
    process.stderr.write(`tunnel pod SIGKILLed → Service selector back to the original after ${ms.toFixed(0)} ms (heartbeat timeout ${HEARTBEAT_TIMEOUT_MS} ms)\n`);
    expect(ms).toBeLessThan(HEARTBEAT_TIMEOUT_MS + 1_500);
    expect(await request('/pod-gone')).toBe('original pod: /pod-gone');
    expect((await again.event('disconnected', 10_000, from)).message).toMatch(/no report from the tunnel pod for 2.5 s/);

    // the Deployment's replacement pod
    const next = await startTunnelPod();
    await again.event('active', 20_000, from);
    expect(await request('/new-pod')).toBe('laptop: /new-pod');

    // Ctrl-C: the Service back to its own pods, the Intercept, the pod and the agent gone
    again.child.kill('SIGINT');
    expect(await again.exit, again.stderr()).toBe(0);
    expect(again.lines.at(-1)).toMatchObject({ event: 'ended' });
    expect(intercepted()).toBeUndefined();
    expect(selector()).toEqual(ORIGINAL_SELECTOR);
    const svc = api.get('services', NS, SERVICE)!;
    expect(Object.keys(svc.metadata.annotations ?? {}).filter((k) => k.startsWith('sluice.dev/'))).toEqual([]);
    expect(api.get('deployments', NS, DEPLOYMENT)).toBeUndefined();
    expect((await gw.call(aliceToken, 'GET', '/v1/agents/dev-checkout-shop')).status).toBe(404);
    expect(await request('/after-ctrl-c')).toBe('original pod: /after-ctrl-c');
    await next.stop();
  });

  it('`sluice dev leave` ends an intercept (its holder’s; another developer needs --force)', async () => {
    const third = intercept(aliceToken);
    await third.event('waiting');
    const byBob = await cliOnce(['dev', 'leave', SERVICE, '-n', NS], cliEnv(bobToken));
    expect(byBob.code).toBe(1);
    expect(byBob.stderr).toMatch(/shop\/checkout is intercepted by alice \(on [^)]+\) since \S+, not by you \(bob\); --force ends it anyway/);
    const byAlice = await cliOnce(['dev', 'leave', SERVICE, '-n', NS], cliEnv(aliceToken));
    expect(byAlice.code, byAlice.stderr).toBe(0);
    expect(byAlice.stdout).toMatch(/shop\/checkout: intercept ended; the Service is back on its own pods/);
    expect(await third.exit).toBe(0);
    expect(third.stderr()).toMatch(/the intercept was deleted/);
    expect(intercepted()).toBeUndefined();
    expect(api.get('deployments', NS, DEPLOYMENT)).toBeUndefined();
    expect(selector()).toEqual(ORIGINAL_SELECTOR);
    expect(events.map((e) => e.kind)).toContain('intercept-removed');
  });
});
