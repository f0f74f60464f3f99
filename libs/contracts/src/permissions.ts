import { dnsSubjects } from './dns.ts';
import { InvalidConfigError } from './errors.ts';
import { ID_PATTERN, isId } from './ids.ts';
import { consumers, streams, subjects } from './subjects.ts';

/** NATS subject allow-lists for one user: anything not listed is refused by the server. */
export interface SubjectPermissions {
  publish: string[];
  subscribe: string[];
}

/** The JetStream API of the default domain (nats-server's, not ours: no Sluice subject). */
const JS_API = '$JS.API';

/**
 * Where replies to this agent go. Every client's default `_INBOX.>` would let one agent read the
 * replies (and pulled JetStream messages) of every other, so each agent gets a prefix of its own
 * and must connect with it (`inboxPrefix`).
 */
export function agentInboxPrefix(agentId: string): string {
  assertAgentId(agentId);
  return `_INBOX_${agentId}`;
}

/**
 * The two pull consumers an agent reads from: its connection assignments and its `up` bytes. The
 * registry creates them when the agent registers; the agent may only read them (INFO, MSG.NEXT).
 * An agent allowed to create consumers could give one a `deliver_subject` on another agent's
 * subjects (the server does not check publish permissions for push delivery).
 */
export function agentConsumers(agentId: string): Array<{ stream: string; consumer: string; filter: string; inactiveThresholdMs: number }> {
  assertAgentId(agentId);
  return [
    { stream: streams.ctrl.name, consumer: consumers.agentAssignments(agentId), filter: subjects.connAssigned(agentId), inactiveThresholdMs: 60_000 },
    { stream: streams.data.name, consumer: consumers.agentData(agentId), filter: subjects.dataForAgent('jetstream', agentId), inactiveThresholdMs: 120_000 },
  ];
}

/**
 * What an agent's NATS user may do: exactly what the agent does today, and only for itself.
 * Its JetStream rights are reading its own two consumers (`agentConsumers`), which the registry
 * creates: no CONSUMER.CREATE in any form (a push consumer's `deliver_subject` would bypass the
 * publish allow-list), no DELETE, no STREAM.CREATE.
 */
export function agentPermissions(agentId: string): SubjectPermissions {
  assertAgentId(agentId);
  const own = agentConsumers(agentId);
  return {
    publish: [
      subjects.agentHeartbeat(agentId),
      subjects.agentOffline(agentId),
      subjects.registryAgentRegister(agentId),
      subjects.registryAgentUnregister(agentId),
      dnsSubjects.agentAddress(agentId),
      // the agent answers on the `down` side of its own connections, whatever the edge
      subjects.data('core', agentId, '*', '*', 'down'),
      subjects.data('jetstream', agentId, '*', '*', 'down'),
      `${JS_API}.INFO`,
      `${JS_API}.STREAM.INFO.${streams.ctrl.name}`,
      `${JS_API}.STREAM.INFO.${streams.data.name}`,
      ...own.flatMap(({ stream, consumer }) => [
        `${JS_API}.CONSUMER.INFO.${stream}.${consumer}`,
        `${JS_API}.CONSUMER.MSG.NEXT.${stream}.${consumer}`,
      ]),
    ],
    subscribe: [
      `${agentInboxPrefix(agentId)}.>`,
      subjects.dataForAgent('core', agentId),
      subjects.edgeOfflineAll,
    ],
  };
}

function assertAgentId(agentId: string): void {
  if (!isId(agentId)) throw new InvalidConfigError(`agent id "${agentId}" is not a valid id (expected ${ID_PATTERN})`);
}
