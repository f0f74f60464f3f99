/**
 * Every NATS subject Sluice uses, defined once. Tokens that carry ids must satisfy `isId`.
 *
 *  sluice.conn.opened.<edge>             JetStream (SLUICE_CTRL)  edge → router
 *  sluice.conn.assigned.<agent>          JetStream (SLUICE_CTRL)  router → agent
 *  sluice.edge.<edge>.route              core                     router → edge
 *  sluice.agent.<agent>.heartbeat        core                     agent → router
 *  sluice.agent.<agent>.offline          core                     router/agent → edges
 *  sluice.edge.<edge>.heartbeat          core                     edge → router
 *  sluice.edge.<edge>.offline            core                     router/edge → agents
 *  sluice.registry.register|unregister   core request/reply       agent/cli → registry
 *  sluice.registry.agent.<agent>.register|unregister  core request/reply  agent on its own creds → registry
 *  sluice.events.registry.<kind>         core                     registry → anyone
 *  sluice.d.<agent>.<edge>.<conn>.up|down  core     byte transport `core`
 *  sluice.s.<agent>.<edge>.<conn>.up|down  JetStream (SLUICE_DATA) byte transport `jetstream`
 */
export const streams = {
  ctrl: { name: 'SLUICE_CTRL', subjects: ['sluice.conn.>'] },
  data: { name: 'SLUICE_DATA', subjects: ['sluice.s.>'] },
} as const;

/** Durable consumer names, one per purpose and owner (agent permissions name them exactly). */
export const consumers = {
  /** An agent's connection assignments, on SLUICE_CTRL. */
  agentAssignments: (agentId: string) => `assign-${agentId}`,
  /** An agent's `up` bytes of the jetstream transport, on SLUICE_DATA. */
  agentData: (agentId: string) => `data-agent-${agentId}`,
  /** An edge's `down` bytes of the jetstream transport, on SLUICE_DATA. */
  edgeData: (edgeId: string) => `data-edge-${edgeId}`,
} as const;

export const buckets = {
  routes: 'sluice_routes',
} as const;

export type Direction = 'up' | 'down';
export type TransportKind = 'core' | 'jetstream';

export const subjects = {
  connOpened: (edgeId: string) => `sluice.conn.opened.${edgeId}`,
  connOpenedAll: 'sluice.conn.opened.>',
  connAssigned: (agentId: string) => `sluice.conn.assigned.${agentId}`,
  routeResult: (edgeId: string) => `sluice.edge.${edgeId}.route`,
  agentHeartbeat: (agentId: string) => `sluice.agent.${agentId}.heartbeat`,
  agentHeartbeatAll: 'sluice.agent.*.heartbeat',
  agentOffline: (agentId: string) => `sluice.agent.${agentId}.offline`,
  agentOfflineAll: 'sluice.agent.*.offline',
  edgeHeartbeat: (edgeId: string) => `sluice.edge.${edgeId}.heartbeat`,
  edgeHeartbeatAll: 'sluice.edge.*.heartbeat',
  edgeOffline: (edgeId: string) => `sluice.edge.${edgeId}.offline`,
  edgeOfflineAll: 'sluice.edge.*.offline',
  registryRegister: 'sluice.registry.register',
  registryUnregister: 'sluice.registry.unregister',
  /** Registration by an agent on its own credentials: the token is the authenticated agent id. */
  registryAgentRegister: (agentId: string) => `sluice.registry.agent.${agentId}.register`,
  registryAgentUnregister: (agentId: string) => `sluice.registry.agent.${agentId}.unregister`,
  registryAgentRegisterAll: 'sluice.registry.agent.*.register',
  registryAgentUnregisterAll: 'sluice.registry.agent.*.unregister',
  registryEvent: (kind: string) => `sluice.events.registry.${kind}`,
  /** One byte-transport subject for a connection and direction. */
  data: (kind: TransportKind, agentId: string, edgeId: string, connId: string, dir: Direction) =>
    `${kind === 'core' ? 'sluice.d' : 'sluice.s'}.${agentId}.${edgeId}.${connId}.${dir}`,
  /** What an agent receives: every connection's `up` bytes, whatever the edge. */
  dataForAgent: (kind: TransportKind, agentId: string) =>
    `${kind === 'core' ? 'sluice.d' : 'sluice.s'}.${agentId}.*.*.up`,
  /** What an edge receives: every connection's `down` bytes, whatever the agent. */
  dataForEdge: (kind: TransportKind, edgeId: string) =>
    `${kind === 'core' ? 'sluice.d' : 'sluice.s'}.*.${edgeId}.*.down`,
} as const;

/** Splits a data subject into its tokens; null if it is not one. */
export function parseDataSubject(subject: string): { agentId: string; edgeId: string; connId: string; dir: Direction } | null {
  const p = subject.split('.');
  if (p.length !== 6 || p[0] !== 'sluice') return null;
  const dir = p[5];
  if (dir !== 'up' && dir !== 'down') return null;
  return { agentId: p[2]!, edgeId: p[3]!, connId: p[4]!, dir };
}
