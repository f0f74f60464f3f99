export { connectNats, onReconnect, onDisconnect, type NatsConnectOptions } from './connect.ts';
export { ensureStreams, type StreamLimits } from './assets.ts';
export { runPullConsumer, type PullConsumerSpec, type RunningConsumer } from './consumer.ts';
export { PublishQueue } from './publish-queue.ts';
export { openRoutesBucket } from './buckets.ts';
