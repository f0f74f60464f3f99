import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { freePort, spawnService, type ServiceProcess } from '@sluice/testing';
import type { FakeKubeApi, KubeObject } from '../../k8s/support/fake-kube-api.ts';

/** Where a test's stand-in pod listens, as an annotation on its Pod object (a Pod IP of the test). */
export const ENDPOINT_ANNOTATION = 'test.sluice.dev/endpoint';

type Selector = Record<string, string>;
const matches = (labels: Selector | undefined, selector: Selector): boolean => Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** A Service and its port as `kubectl apply` would create them. */
export function serviceObject(namespace: string, name: string, selector: Selector, ports: Array<{ name?: string; port: number; targetPort?: number | string }>): KubeObject {
  return { metadata: { name, namespace }, spec: { type: 'ClusterIP', selector, ports: ports.map((p) => ({ protocol: 'TCP', ...p })) } };
}

/** A Pod object for a process of the test listening on `port` (the kubelet's part, for a pod the test runs). */
export function podObject(namespace: string, name: string, labels: Selector, port: number): KubeObject {
  return { metadata: { name, namespace, labels, annotations: { [ENDPOINT_ANNOTATION]: `127.0.0.1:${port}` } }, spec: { containers: [{ name: 'main', image: 'test' }] }, status: { phase: 'Running' } };
}

/**
 * kube-proxy for one Service: a TCP listener standing for the Service's address; each connection
 * goes to a Pod the Service's selector selects *now* (read from the API server's store at connect
 * time, as kube-proxy follows the Service's endpoints), round robin; none selected: refused.
 */
export interface ServiceProxy {
  readonly port: number;
  /** Where the last connection went (a Pod name), for assertions. */
  readonly lastPod: string | undefined;
  close(): Promise<void>;
}

export async function startServiceProxy(api: FakeKubeApi, namespace: string, service: string): Promise<ServiceProxy> {
  const sockets = new Set<Socket>();
  let rr = 0;
  let lastPod: string | undefined;
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    const svc = api.get('services', namespace, service) as (KubeObject & { spec: { selector?: Selector } }) | undefined;
    const selector = svc?.spec.selector;
    const pods = selector ? api.list('pods', namespace).filter((p) => matches(p.metadata.labels, selector) && p.metadata.annotations?.[ENDPOINT_ANNOTATION] && !p.metadata.deletionTimestamp) : [];
    if (pods.length === 0) {
      client.destroy();
      return;
    }
    const pod = pods[rr++ % pods.length]!;
    lastPod = pod.metadata.name;
    const [host, port] = pod.metadata.annotations![ENDPOINT_ANNOTATION]!.split(':');
    const upstream = connect({ host: host!, port: Number(port), allowHalfOpen: true });
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    get lastPod() {
      return lastPod;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface TunnelPod {
  readonly name: string;
  readonly process: ServiceProcess;
  readonly port: number;
  /** The pod's environment as the kubelet gave it (after the test's substitutions). */
  readonly env: Record<string, string>;
  /** SIGKILL, and the Pod object goes (the node died). */
  kill(): Promise<void>;
  /** SIGTERM (the pod is deleted gracefully), and the Pod object goes. */
  stop(): Promise<void>;
}

type Container = { command: string[]; env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }> };

/**
 * The kubelet's part for a Deployment the operator created: runs its container's command with its
 * environment as a child process, and creates the Pod object with the template's labels. What a
 * cluster provides and loopback does not is substituted, and only that: the pod's own address
 * (listen on 127.0.0.1 and a free port, not the pod IP and the targetPort), cluster DNS (the
 * operator's Service name → its loopback port; the NATS Service → the test's server) and the
 * mounted NATS credentials Secret (a file of the test's).
 */
export async function runTunnelPod(
  api: FakeKubeApi,
  namespace: string,
  deploymentName: string,
  cluster: { operatorUrl: string; natsUrl: string; natsCredsFile?: string },
): Promise<TunnelPod> {
  const dep = api.get('deployments', namespace, deploymentName) as (KubeObject & { spec: { template: { metadata: { labels: Selector }; spec: { containers: Container[] } } } }) | undefined;
  if (!dep) throw new Error(`no Deployment ${namespace}/${deploymentName}`);
  const podName = `${deploymentName}-${randomBytes(4).toString('hex').slice(0, 8)}-${randomBytes(3).toString('hex').slice(0, 5)}`;
  const c = dep.spec.template.spec.containers[0]!;
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = podName;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = namespace;
    else throw new Error(`runTunnelPod: env ${e.name} has a source this kubelet does not know`);
  }
  const port = await freePort();
  Object.assign(env, {
    TUNNEL_LISTEN_HOST: '127.0.0.1',
    TUNNEL_LISTEN_PORT: String(port),
    TUNNEL_OPERATOR_URL: cluster.operatorUrl,
    NATS_URL: cluster.natsUrl,
    OPS_HOST: '127.0.0.1',
    OPS_PORT: '0',
  });
  if (cluster.natsCredsFile) env.NATS_CREDS = cluster.natsCredsFile;
  if (c.command.slice(0, 3).join(' ') !== 'node --import tsx') throw new Error(`unexpected command ${c.command.join(' ')}`);
  const proc = await spawnService(podName, c.command[3]!, env);
  api.create('pods', podObject(namespace, podName, dep.spec.template.metadata.labels, port));
  const gone = (): void => {
    if (api.get('pods', namespace, podName)) api.delete('pods', namespace, podName);
  };
  return {
    name: podName,
    process: proc,
    port,
    env,
    async kill() {
      await proc.kill();
      gone();
    },
    async stop() {
      gone();
      await proc.stop(15_000);
    },
  };
}
