import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { codecs, dnsCodecs, dnsSubjects, hostnameToKey } from '@sluice/contracts';
import { openRoutesBucket } from '@sluice/nats';

/** What the edge (or an operator) would publish: an edge's public addresses. */
export async function announceEdge(nc: NatsConnection, edgeId: string, ipv4: string[], ipv6: string[] = []): Promise<void> {
  await jetstream(nc).publish(dnsSubjects.edgeAddress(edgeId), dnsCodecs.edgeAddress.encode({ v: 1, edgeId, ipv4, ipv6, ts: Date.now() }), { timeout: 1000 });
}

/** What an agent publishes about itself. */
export async function reportAgent(nc: NatsConnection, agentId: string, ipv4?: string, ipv6?: string): Promise<void> {
  await jetstream(nc).publish(
    dnsSubjects.agentAddress(agentId),
    dnsCodecs.agentAddress.encode({ v: 1, agentId, ...(ipv4 ? { ipv4 } : {}), ...(ipv6 ? { ipv6 } : {}), source: 'config', ts: Date.now() }),
    { timeout: 1000 },
  );
}

/** What the registry writes when it grants an agent a hostname (the routes bucket). */
export async function putRoute(nc: NatsConnection, agentId: string, hostname: string): Promise<void> {
  const kv = await openRoutesBucket(nc);
  await kv.put(`${agentId}.${hostnameToKey(hostname)}`, codecs.routeRecord.encode({ v: 1, hostname, agentId, createdAt: Date.now() }));
}

export async function deleteRoute(nc: NatsConnection, agentId: string, hostname: string): Promise<void> {
  const kv = await openRoutesBucket(nc);
  await kv.delete(`${agentId}.${hostnameToKey(hostname)}`);
}

/** Polls `check` until it returns without throwing (or rethrows its last error after `timeoutMs`). */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 5000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }
}
