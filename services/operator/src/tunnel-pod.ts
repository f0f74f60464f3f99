import { createHash, randomBytes } from 'node:crypto';
import { devLabels, interceptResource } from '@sluice/contracts';
import type { OperatorConfig } from './config.ts';
import { tunnelHeartbeatMs } from './config.ts';
import type { Deployment, Intercept } from '@sluice/kube';

/** Where the tunnel pod's own /healthz, /readyz and /metrics are (OPS_PORT, as every Sluice pod). */
export const TUNNEL_OPS_PORT = 9464;
const OPS_PORT_ALT = 9465;
/** A named targetPort is served on this container port (any port would do: the name is what the Service uses). */
const NAMED_PORT_CONTAINER_PORT = 8080;

/** The Deployment running an Intercept's tunnel pod: `sluice-tunnel-<name>`, shortened and hashed when long. */
export function tunnelDeploymentName(interceptName: string): string {
  const base = `sluice-tunnel-${interceptName}`;
  if (base.length <= 47) return base;
  const hash = createHash('sha256').update(interceptName).digest('hex').slice(0, 8);
  return `sluice-tunnel-${interceptName.slice(0, 32).replace(/[-.]+$/, '')}-${hash}`;
}

/** The selector that points a Service at one tunnel's pod (and the labels that pod carries). */
export function tunnelSelector(tunnelId: string): Record<string, string> {
  return { [devLabels.app]: devLabels.tunnelApp, [devLabels.tunnelId]: tunnelId };
}

export function isTunnelSelector(selector: Record<string, string> | undefined): boolean {
  return selector?.[devLabels.app] === devLabels.tunnelApp;
}

/** A new tunnel token (the pod's bearer token for its reports) and its SHA-256, which the Intercept's status keeps. */
export function newTunnelToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashTunnelToken(token) };
}

export function hashTunnelToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export interface TunnelPodPlan {
  intercept: Intercept;
  tunnelId: string;
  token: string;
  /** The Service port's targetPort: the tunnel pod listens on it (a name: on a container port of that name). */
  targetPort: number | string;
}

/** The token a tunnel Deployment was created with (its env), to keep it when the Deployment is updated. */
export function tokenOf(deployment: Deployment): string | undefined {
  const pod = (deployment.spec as { template?: { spec?: { containers?: Array<{ env?: Array<{ name: string; value?: string }> }> } } } | undefined)?.template?.spec;
  return pod?.containers?.[0]?.env?.find((e) => e.name === 'TUNNEL_TOKEN')?.value;
}

/**
 * The tunnel pod's Deployment: one replica of the Sluice image running services/tunnel, listening
 * on the intercepted port's targetPort, labelled so that the Service's selector can point at it,
 * owned by its Intercept (garbage-collected with it), hardened as every Sluice pod.
 */
export function tunnelDeployment(plan: TunnelPodPlan, cfg: OperatorConfig): Deployment {
  const ic = plan.intercept;
  const spec = ic.spec!;
  const name = tunnelDeploymentName(ic.metadata.name);
  const named = typeof plan.targetPort === 'string';
  const listenPort = named ? NAMED_PORT_CONTAINER_PORT : (plan.targetPort as number);
  const opsPort = listenPort === TUNNEL_OPS_PORT ? OPS_PORT_ALT : TUNNEL_OPS_PORT;
  const labels = { ...tunnelSelector(plan.tunnelId), [devLabels.intercept]: ic.metadata.name, 'app.kubernetes.io/part-of': 'sluice', 'app.kubernetes.io/name': 'sluice-tunnel' };
  const env: Array<Record<string, unknown>> = [
    { name: 'TUNNEL_ID', value: plan.tunnelId },
    { name: 'TUNNEL_HOSTNAME', value: spec.hostname },
    { name: 'TUNNEL_AGENT_ID', value: spec.agentId },
    { name: 'TUNNEL_LISTEN_HOST', value: '0.0.0.0' },
    { name: 'TUNNEL_LISTEN_PORT', value: String(listenPort) },
    { name: 'TUNNEL_OPERATOR_URL', value: cfg.tunnel.operatorUrl },
    { name: 'TUNNEL_TOKEN', value: plan.token },
    { name: 'TUNNEL_HEARTBEAT_MS', value: String(tunnelHeartbeatMs(cfg)) },
    { name: 'TUNNEL_AGENT_TIMEOUT_MS', value: String(cfg.tunnel.agentTimeoutMs) },
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'NATS_URL', value: cfg.tunnel.natsUrl },
    ...(cfg.tunnel.natsCredsSecret ? [{ name: 'NATS_CREDS', value: '/etc/sluice-creds/nats.creds' }] : []),
    { name: 'OPS_HOST', value: '0.0.0.0' },
    { name: 'OPS_PORT', value: String(opsPort) },
    { name: 'LOG_LEVEL', value: cfg.tunnel.logLevel },
  ];
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: ic.metadata.namespace!,
      labels,
      ownerReferences: [{ apiVersion: interceptResource.apiVersion, kind: interceptResource.kind, name: ic.metadata.name, uid: ic.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      replicas: 1,
      // two pods of one tunnel would both report; the old one goes first
      strategy: { type: 'Recreate' },
      selector: { matchLabels: tunnelSelector(plan.tunnelId) },
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            runAsGroup: 1000,
            fsGroup: 1000,
            seccompProfile: { type: 'RuntimeDefault' },
            // the intercepted port may be below 1024 (a safe sysctl, allowed by Pod Security `restricted`)
            sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }],
          },
          terminationGracePeriodSeconds: 10,
          containers: [
            {
              name: 'tunnel',
              image: cfg.tunnel.image,
              command: ['node', '--import', 'tsx', 'services/tunnel/src/main.ts'],
              env,
              ports: [
                { name: named ? (plan.targetPort as string) : 'intercepted', containerPort: listenPort, protocol: 'TCP' },
                { name: 'ops', containerPort: opsPort, protocol: 'TCP' },
              ],
              livenessProbe: { httpGet: { path: '/healthz', port: 'ops' }, periodSeconds: 10, failureThreshold: 3 },
              readinessProbe: { httpGet: { path: '/readyz', port: 'ops' }, periodSeconds: 2, failureThreshold: 2 },
              resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '1', memory: '256Mi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: [
                { name: 'tmp', mountPath: '/tmp' },
                ...(cfg.tunnel.natsCredsSecret ? [{ name: 'creds', mountPath: '/etc/sluice-creds', readOnly: true }] : []),
              ],
            },
          ],
          volumes: [
            { name: 'tmp', emptyDir: {} },
            ...(cfg.tunnel.natsCredsSecret
              ? [{ name: 'creds', secret: { secretName: cfg.tunnel.natsCredsSecret, defaultMode: 288, items: [{ key: 'nats-creds', path: 'nats.creds' }] } }]
              : []),
          ],
        },
      },
    },
  };
}
