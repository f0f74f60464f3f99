export { connectNats, onReconnect, onDisconnect, type NatsConnectOptions } from './connect.ts';
export { ensureStreams, type StreamLimits, type EnsureStreamsOptions } from './assets.ts';
export { runPullConsumer, ensurePullConsumer, type PullConsumerSpec, type RunningConsumer } from './consumer.ts';
export { PublishQueue } from './publish-queue.ts';
export { openBucket, openRoutesBucket, type OpenBucketOptions } from './buckets.ts';
export { replicasFor, raiseReplicas, MAX_REPLICAS } from './replicas.ts';
