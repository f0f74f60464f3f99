import { Kvm, type KV } from '@nats-io/kv';
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { buckets } from '@sluice/contracts';
import { raiseReplicas, replicasFor, withFewerReplicasIfUnplaceable } from './replicas.ts';

export interface OpenBucketOptions {
  /** Values kept per key (default 1). */
  history?: number;
  /** Default file: records survive a nats-server restart. */
  storage?: StorageType;
  /** Default what the cluster allows (`replicasFor`): 1 on a single server, 3 on a cluster. */
  replicas?: number;
  /** Where replica changes (and failures to make them) are reported. */
  logger?: Logger;
}

/**
 * Opens a KV bucket, creating it if missing, replicated as the cluster allows so that no record
 * is lost with one server. An existing bucket keeps its settings, except that fewer replicas than
 * wanted are raised (a bucket made before the cluster grew). Every process that opens a bucket
 * should pass the same options.
 */
export async function openBucket(nc: NatsConnection, name: string, opts: OpenBucketOptions = {}): Promise<KV> {
  const replicas = opts.replicas ?? replicasFor(nc);
  // no account-info probe (see ensureStreams): an existing bucket opens while the meta leader is elected
  const kvm = new Kvm(jetstream(nc, { checkAPI: false }));
  const kv = await withFewerReplicasIfUnplaceable(replicas, (r) => kvm.create(name, { history: opts.history ?? 1, storage: opts.storage ?? StorageType.File, replicas: r }), `KV_${name}`, opts.logger);
  if (replicas > 1) {
    // Kvm.create returns an existing bucket as it is
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const info = await jsm.streams.info(`KV_${name}`);
    await raiseReplicas(jsm, info, replicas, opts.logger);
  }
  return kv;
}

/** The routes bucket (file storage: routes survive a nats-server restart). Same options everywhere. */
export function openRoutesBucket(nc: NatsConnection, opts: Pick<OpenBucketOptions, 'logger'> = {}): Promise<KV> {
  return openBucket(nc, buckets.routes, { history: 1, storage: StorageType.File, ...opts });
}
