import { Kvm, type KV } from '@nats-io/kv';
import { StorageType } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { buckets } from '@sluice/contracts';

/** The routes bucket (file storage: routes survive a nats-server restart). Same options everywhere. */
export async function openRoutesBucket(nc: NatsConnection): Promise<KV> {
  return new Kvm(nc).create(buckets.routes, { history: 1, storage: StorageType.File, replicas: 1 });
}
