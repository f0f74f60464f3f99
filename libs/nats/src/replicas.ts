import { JetStreamApiError, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';

/** Three replicas keep a quorum (two) through the loss of any one server; more only cost. */
export const MAX_REPLICAS = 3;

/**
 * The replica count for Sluice's streams and buckets on the cluster `nc` is connected to: 1 on a
 * single server, min(3, servers) on a cluster. Read from the server's INFO: `cluster` is set only
 * on a clustered server, and `connect_urls` lists the client URLs of every server of its cluster,
 * itself included, but none behind a gateway. So in a supercluster this is the size of the local
 * cluster, which is where a stream created through this connection is placed.
 *
 * A clustered server that sends no URLs (it hides its peers with `no_advertise`, or it is alone in
 * its cluster of a supercluster) counts as three: creation steps down when the cluster cannot place
 * that many (`withFewerReplicasIfUnplaceable`) rather than keeping one copy where three could be.
 */
export function replicasFor(nc: NatsConnection): number {
  const info = nc.info;
  if (info?.cluster === undefined || info.cluster === '') return 1;
  const servers = new Set(info.connect_urls ?? []).size;
  return servers === 0 ? MAX_REPLICAS : Math.min(MAX_REPLICAS, servers);
}

/**
 * Raises an existing stream's replicas to `want` (a stream created while the cluster was smaller,
 * or before it was a cluster). Never lowers them: fewer servers in view usually means one is down
 * for a while, a stream may live in a bigger cluster of the supercluster, or an operator chose
 * the count; shrinking would throw copies away exactly when they matter.
 */
export async function raiseReplicas(jsm: JetStreamManager, info: StreamInfo, want: number, logger?: Logger): Promise<StreamInfo> {
  const name = info.config.name;
  const have = info.config.num_replicas || 1;
  if (have === want) return info;
  if (have > want) {
    logger?.debug({ stream: name, replicas: have, wanted: want }, 'stream has more replicas than this cluster view suggests; left as it is');
    return info;
  }
  try {
    const raised = await jsm.streams.update(name, { ...info.config, num_replicas: want });
    logger?.info({ stream: name, from: have, to: want }, 'stream replicas raised');
    return raised;
  } catch (err) {
    if (isUnplaceable(err)) logger?.info({ stream: name, replicas: have, wanted: want }, 'the cluster cannot place more replicas; left as they are');
    else logger?.warn({ err, stream: name, replicas: have, wanted: want }, 'could not raise stream replicas; left as they are');
    return info;
  }
}

/**
 * Sets an existing stream's replicas to exactly `want`, up or down: an explicit choice (the data
 * stream's `dataReplicas`), unlike `raiseReplicas`. A failure is logged, not thrown: the stream
 * works as it is.
 */
export async function setReplicas(jsm: JetStreamManager, info: StreamInfo, want: number, logger?: Logger): Promise<StreamInfo> {
  const name = info.config.name;
  const have = info.config.num_replicas || 1;
  if (have === want) return info;
  try {
    const updated = await jsm.streams.update(name, { ...info.config, num_replicas: want });
    logger?.info({ stream: name, from: have, to: want }, 'stream replicas set');
    return updated;
  } catch (err) {
    logger?.warn({ err, stream: name, replicas: have, wanted: want }, 'could not set stream replicas; left as they are');
    return info;
  }
}

/** nats-server's answers when it cannot place that many replicas. */
const UNPLACEABLE = new Set([
  10005, // no suitable peers for placement
  10023, // insufficient resources
  10074, // replicas > 1 not supported in non-clustered mode
]);

function isUnplaceable(err: unknown): boolean {
  return err instanceof JetStreamApiError && UNPLACEABLE.has(err.code);
}

/**
 * Runs `create(replicas)` with `want` replicas, and with one fewer each time the cluster says it
 * cannot place that many (a warning says how many it got). Any other failure is thrown.
 */
export async function withFewerReplicasIfUnplaceable<T>(want: number, create: (replicas: number) => Promise<T>, what: string, logger?: Logger): Promise<T> {
  for (let replicas = want; ; replicas--) {
    try {
      const made = await create(replicas);
      if (replicas < want) logger?.warn({ stream: what, replicas, wanted: want }, 'the cluster could not place all the replicas wanted; created with fewer');
      return made;
    } catch (err) {
      if (replicas <= 1 || !isUnplaceable(err)) throw err;
    }
  }
}
