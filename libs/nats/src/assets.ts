import { jetstreamManager, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, DiscardPolicy, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { streams } from '@sluice/contracts';
import { raiseReplicas, replicasFor, withFewerReplicasIfUnplaceable } from './replicas.ts';

export interface StreamLimits {
  /** bytes the in-memory data stream may hold before the oldest are dropped */
  dataMaxBytes?: number;
}

export interface EnsureStreamsOptions extends StreamLimits {
  /**
   * Replicas of both streams; by default what the cluster allows (`replicasFor`: 1 on a single
   * server, 3 on a cluster). Every process must agree, so set it everywhere or nowhere.
   */
  replicas?: number;
  /** Where replica changes (and failures to make them) are reported. */
  logger?: Logger;
  /** JetStream API request timeout (default 2 s). */
  timeoutMs?: number;
}

/**
 * Creates the control and data streams if missing (idempotent; run at start and after every
 * reconnect, since memory streams do not survive a nats-server restart). On a cluster both are
 * replicated, so that connections keep being opened, and jetstream-transport bytes keep flowing,
 * when one server is lost. An existing stream is left as it is, except that fewer replicas than
 * wanted are raised (see `raiseReplicas`).
 */
export async function ensureStreams(nc: NatsConnection, opts: EnsureStreamsOptions = {}): Promise<JetStreamManager> {
  // No account-info probe: on a cluster only the JetStream meta leader answers it, and a new one
  // takes 4-9 s to be elected after its server dies, while existing streams answer at once. A
  // short timeout: a request sent while a stream's leader is being elected is never answered, and
  // callers retry; 5 s (the default) would add up to 5 s to every fail-over.
  const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: opts.timeoutMs ?? 2_000 });
  const replicas = opts.replicas ?? replicasFor(nc);
  await ensureStream(
    jsm,
    {
      name: streams.ctrl.name,
      subjects: [...streams.ctrl.subjects],
      storage: StorageType.Memory,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(60_000),
      max_bytes: 64 * 1024 * 1024,
      num_replicas: replicas,
    },
    opts.logger,
  );
  await ensureStream(
    jsm,
    {
      name: streams.data.name,
      subjects: [...streams.data.subjects],
      storage: StorageType.Memory,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(120_000),
      max_bytes: opts.dataMaxBytes ?? 512 * 1024 * 1024,
      num_replicas: replicas,
    },
    opts.logger,
  );
  return jsm;
}

type StreamCfg = Partial<StreamConfig> & { name: string; num_replicas: number };

function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

async function ensureStream(jsm: JetStreamManager, cfg: StreamCfg, logger: Logger | undefined): Promise<void> {
  let existing: StreamInfo | undefined;
  try {
    existing = await jsm.streams.info(cfg.name);
  } catch (err) {
    // anything else (a timeout while a leader is elected) is for the caller to retry, not a
    // reason to create: the create would fail, or wait for the meta leader, just the same
    if (!isStreamNotFound(err)) throw err;
  }
  if (existing) {
    await raiseReplicas(jsm, existing, cfg.num_replicas, logger);
    return;
  }
  try {
    const made = await withFewerReplicasIfUnplaceable(cfg.num_replicas, (num_replicas) => jsm.streams.add({ ...cfg, num_replicas }), cfg.name, logger);
    logger?.info({ stream: cfg.name, replicas: made.config.num_replicas }, 'stream created');
  } catch (err) {
    // another service may have created it between our info and add
    await jsm.streams.info(cfg.name).catch(() => {
      throw err;
    });
  }
}
