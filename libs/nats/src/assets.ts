import { jetstreamManager, RetentionPolicy, StorageType, DiscardPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { streams } from '@sluice/contracts';

export interface StreamLimits {
  /** bytes the in-memory data stream may hold before the oldest are dropped */
  dataMaxBytes?: number;
}

/**
 * Creates the control and data streams if missing (idempotent; run at start and after every
 * reconnect, since memory streams do not survive a nats-server restart).
 */
export async function ensureStreams(nc: NatsConnection, limits: StreamLimits = {}): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  await ensureStream(jsm, {
    name: streams.ctrl.name,
    subjects: [...streams.ctrl.subjects],
    storage: StorageType.Memory,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(60_000),
    max_bytes: 64 * 1024 * 1024,
    num_replicas: 1,
  });
  await ensureStream(jsm, {
    name: streams.data.name,
    subjects: [...streams.data.subjects],
    storage: StorageType.Memory,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(120_000),
    max_bytes: limits.dataMaxBytes ?? 512 * 1024 * 1024,
    num_replicas: 1,
  });
  return jsm;
}

type StreamCfg = Parameters<JetStreamManager['streams']['add']>[0] & { name: string };

async function ensureStream(jsm: JetStreamManager, cfg: StreamCfg): Promise<void> {
  try {
    await jsm.streams.info(cfg.name);
    return;
  } catch {
    // not found (or not yet): create below
  }
  try {
    await jsm.streams.add(cfg);
  } catch (err) {
    // another service may have created it between our info and add
    await jsm.streams.info(cfg.name).catch(() => {
      throw err;
    });
  }
}
