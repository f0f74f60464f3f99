import { Type, type Static } from '@sinclair/typebox';
import { ID_PATTERN } from './ids.ts';
import { codec } from './schemas.ts';

/**
 * Developer mode (issue 7), defined once: the `Intercept` custom resource the CLI creates and the
 * operator reconciles, the REST bodies a tunnel pod reports with, and the events the operator
 * announces.
 *
 * The data path has no subject of its own: a tunnel pod is an edge (its connections are
 * `sluice.conn.opened.<edge>` events and their bytes the usual byte transport), the CLI is an agent
 * on its own credentials, and the tunnel pod learns whether that agent is there from the agent's
 * own heartbeats (`sluice.agent.<agent>.heartbeat`).
 *
 *  sluice.events.dev.<kind>   core   operator → anyone   an intercept changed (see devEventKinds)
 *
 *  PUT  /v1/tunnels/<tunnel>/status      tunnel pod → operator   connected / disconnected, at once
 *  POST /v1/tunnels/<tunnel>/heartbeat   tunnel pod → operator   the same state, every few seconds
 */
export const interceptResource = {
  group: 'sluice.dev',
  version: 'v1alpha1',
  plural: 'intercepts',
  kind: 'Intercept',
  apiVersion: 'sluice.dev/v1alpha1',
} as const;

/** Labels on the operator's pods and on the tunnel pods (the NetworkPolicies select on `app`). */
export const devLabels = {
  app: 'sluice.dev/app',
  intercept: 'sluice.dev/intercept',
  tunnelId: 'sluice.dev/tunnel-id',
  tunnelApp: 'tunnel',
  operatorApp: 'tunnel-operator',
} as const;

/**
 * Annotations the operator keeps on an intercepted Service: which Intercept holds it (the lock: a
 * second Intercept of the Service is refused) and its own selector as JSON (a copy of the
 * Intercept's `status.originalSelector`, for a human restoring it by hand).
 */
export const devAnnotations = {
  interceptedBy: 'sluice.dev/intercepted-by',
  originalSelector: 'sluice.dev/original-selector',
} as const;

/** Keeps a deleted Intercept until the operator has given its Service back to its own pods. */
export const INTERCEPT_FINALIZER = 'sluice.dev/restore-service';

/**
 * Tunnel pods run their edge with an id that starts with this; the developer's agent takes
 * connections only from such edges, so an intercept's route name reached through a public edge
 * (someone who learnt it) never gets to the laptop.
 */
export const TUNNEL_EDGE_PREFIX = 'tun-';

/** A Kubernetes object name that is also a DNS label (Services, namespaces). */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';
/** A Service name (DNS-1035: starts with a letter). */
export const SERVICE_NAME_PATTERN = '^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$';

const Id = Type.String({ pattern: ID_PATTERN });
const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const Selector = Type.Record(Type.String({ minLength: 1, maxLength: 317 }), Type.String({ maxLength: 63 }), { maxProperties: 64 });

/** What the CLI asks for (`spec`): the Service port to take over and where its connections go. */
export const InterceptSpec = Type.Object(
  {
    /** The Service in the Intercept's namespace. */
    service: Type.String({ pattern: SERVICE_NAME_PATTERN }),
    /** The Service port (`spec.ports[].port`) whose connections go to the developer. */
    port: Port,
    /**
     * The route the tunnel pod announces each connection for: a name the CLI's agent registered,
     * so the router hands the connections to that agent (and only the registry decides who owns it).
     */
    hostname: Type.String({ minLength: 1, maxLength: 253, pattern: '^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$' }),
    /** The CLI's agent: the tunnel pod reports `connected` while this agent heartbeats. */
    agentId: Id,
    /** Who holds the intercept (the registry user), named when another developer is refused. */
    holder: Type.String({ minLength: 1, maxLength: 64, pattern: '^[\\x21-\\x7e]+$' }),
    /** Where the holder runs the CLI (their machine's name): for people, never for decisions. */
    client: Type.Optional(Type.String({ maxLength: 253, pattern: '^[\\x20-\\x7e]*$' })),
    /** The developer's local port: for `sluice dev list`. */
    localPort: Type.Optional(Port),
  },
  { additionalProperties: false },
);
export type InterceptSpec = Static<typeof InterceptSpec>;

export const interceptPhases = ['Pending', 'Waiting', 'Active', 'Disconnected', 'Refused', 'Failed'] as const;
export type InterceptPhase = (typeof interceptPhases)[number];
export const tunnelStates = ['connected', 'disconnected'] as const;
export type TunnelState = (typeof tunnelStates)[number];

/** What the operator records (`status`): enough to carry on after a restart with nothing in memory. */
export const InterceptStatus = Type.Object(
  {
    /**
     * Pending: not looked at yet. Waiting: the tunnel pod runs, the developer's agent is not there.
     * Active: the Service points at the tunnel pod. Disconnected: it was, and is back on its own
     * pods (agent gone, or no report within the heartbeat timeout). Refused: another Intercept
     * holds the Service. Failed: the spec cannot work (no such Service or port).
     */
    phase: Type.Union(interceptPhases.map((p) => Type.Literal(p))),
    message: Type.Optional(Type.String({ maxLength: 1024 })),
    /** When `phase` last changed (RFC 3339). */
    since: Type.Optional(Type.String({ maxLength: 64 })),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
    /** The tunnel pod's id: the REST API's `/v1/tunnels/<id>`, and a label on its pods. */
    tunnelId: Type.Optional(Id),
    /** SHA-256 (hex) of the token the tunnel pod reports with; the token itself is only in its pod spec. */
    tunnelTokenHash: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
    /** What the tunnel pod last reported. */
    tunnelState: Type.Optional(Type.Union(tunnelStates.map((s) => Type.Literal(s)))),
    /** Where the Service's selector points now. */
    serviceTarget: Type.Optional(Type.Union([Type.Literal('original'), Type.Literal('tunnel')])),
    /** The Service's own selector, recorded before it is first changed; given back on the way out. */
    originalSelector: Type.Optional(Selector),
    /** The port the tunnel pod listens on (the Service port's targetPort). */
    targetPort: Type.Optional(Type.Union([Port, Type.String({ pattern: '^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$' })])),
  },
  { additionalProperties: false },
);
export type InterceptStatus = Static<typeof InterceptStatus>;

const PodName = Type.String({ minLength: 1, maxLength: 253, pattern: DNS_LABEL_PATTERN.replace('{0,61}', '{0,251}') });

/** `PUT /v1/tunnels/<id>/status`: the tunnel pod's state changed. */
export const TunnelStatusReport = Type.Object(
  {
    v: Type.Literal(1),
    /** The reporting pod (`metadata.name`, from the downward API). */
    pod: PodName,
    state: Type.Union(tunnelStates.map((s) => Type.Literal(s))),
    /** Why, for the Intercept's status message. */
    reason: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
);
export type TunnelStatusReport = Static<typeof TunnelStatusReport>;

/** `POST /v1/tunnels/<id>/heartbeat`: the tunnel pod is alive, and its state is still this. */
export const TunnelHeartbeat = Type.Object(
  {
    v: Type.Literal(1),
    pod: PodName,
    state: Type.Union(tunnelStates.map((s) => Type.Literal(s))),
    /** Connections the tunnel pod carries now. */
    activeConnections: Type.Integer({ minimum: 0, maximum: 1_000_000_000 }),
  },
  { additionalProperties: false },
);
export type TunnelHeartbeat = Static<typeof TunnelHeartbeat>;

/** The operator's answer to either report: what it recorded and where the Service points. */
export const TunnelReportReply = Type.Object({
  v: Type.Literal(1),
  tunnelId: Id,
  state: Type.Union(tunnelStates.map((s) => Type.Literal(s))),
  serviceTarget: Type.Union([Type.Literal('original'), Type.Literal('tunnel')]),
  /** The operator gives the Service back if no report arrives within this long. */
  heartbeatTimeoutMs: Type.Integer({ minimum: 1 }),
});
export type TunnelReportReply = Static<typeof TunnelReportReply>;

/** The REST API's error body, as the registry's: a stable code and a precise message. */
export const DevApiError = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });
export type DevApiError = Static<typeof DevApiError>;

export const tunnelRoutes = {
  status: (tunnelId: string) => `/v1/tunnels/${tunnelId}/status`,
  heartbeat: (tunnelId: string) => `/v1/tunnels/${tunnelId}/heartbeat`,
} as const;

export const devEventKinds = [
  /** The Service now points at the tunnel pod. */
  'intercept-active',
  /** The Service is back on its own pods (agent gone, heartbeat timeout, or the intercept ended). */
  'intercept-restored',
  /** An Intercept was refused: another one holds the Service. */
  'intercept-refused',
  /** An Intercept is gone and everything it changed is undone. */
  'intercept-removed',
] as const;
export type DevEventKind = (typeof devEventKinds)[number];

export const DevEvent = Type.Object({
  v: Type.Literal(1),
  kind: Type.Union(devEventKinds.map((k) => Type.Literal(k))),
  ts: Type.Number(),
  namespace: Type.String({ pattern: DNS_LABEL_PATTERN }),
  /** The Intercept's name. */
  name: Type.String({ maxLength: 253 }),
  service: Type.String({ maxLength: 63 }),
  holder: Type.Optional(Type.String({ maxLength: 64 })),
  tunnelId: Type.Optional(Id),
  reason: Type.Optional(Type.String({ maxLength: 1024 })),
});
export type DevEvent = Static<typeof DevEvent>;

export const devSubjects = {
  event: (kind: DevEventKind) => `sluice.events.dev.${kind}`,
  eventsAll: 'sluice.events.dev.>',
} as const;

export const devCodecs = {
  interceptSpec: codec('InterceptSpec', InterceptSpec),
  interceptStatus: codec('InterceptStatus', InterceptStatus),
  tunnelStatusReport: codec('TunnelStatusReport', TunnelStatusReport),
  tunnelHeartbeat: codec('TunnelHeartbeat', TunnelHeartbeat),
  tunnelReportReply: codec('TunnelReportReply', TunnelReportReply),
  devEvent: codec('DevEvent', DevEvent),
} as const;
