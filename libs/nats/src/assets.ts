import { jetstreamManager, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, DiscardPolicy, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { streams } from '@sluice/contracts';
import { raiseReplicas, replicasFor, setReplicas, withFewerReplicasIfUnplaceable } from './replicas.ts';

export interface StreamLimits {
  /** bytes the in-memory data stream may hold before the oldest are dropped */
  dataMaxBytes?: number;
}

export interface EnsureStreamsOptions extends StreamLimits {
  /**
   * Replicas of both streams (of the data stream unless `dataReplicas`); by default what the
   * cluster allows (`replicasFor`: 1 on a single server, 3 on a cluster). Every process must
   * agree, so set it everywhere or nowhere.
   */
  replicas?: number;
  /**
   * Replicas of the data stream (the jetstream transport's bytes) when they should not follow
   * `replicas`. Three (the default on a cluster) let a transfer in flight, and new ones, survive
   * the loss of any server. One costs far less: with three, every chunk, every delivery and every
   * pull goes through Raft to two more servers (`npm run bench -- --only cluster`, three servers
   * on one 2-core machine: nats-server CPU per 1000 keep-alive requests 270-310 ms against 50 on
   * one server; cluster/single 0.45 keep-alive, 0.46 bulk; with one replica 78 ms, 0.74 and
   * 0.81). But the stream then lives on one server: jetstream connections stop, and new ones
   * fail, while that one is down.
   * Given, an existing data stream is set to it, up or down; not given, an existing data stream
   * keeps its count (is not raised), so that processes which do not set it never undo the choice
   * of the one that does (the router, `ROUTER_DATA_REPLICAS`).
   */
  dataReplicas?: number;
  /** Where replica changes (and failures to make them) are reported. */
  logger?: Logger;
  /** JetStream API request timeout (default 2 s). */
  timeoutMs?: number;
}

/**
 * Creates the control and data streams if missing (idempotent; run at start and when a stream is
 * found missing, since memory streams do not survive a nats-server restart). On a cluster both
 * are replicated by default, so that connections keep being opened, and jetstream-transport bytes
 * keep flowing, when one server is lost. An existing stream is left as it is, except that the
 * control stream's replicas are raised when fewer than wanted (see `raiseReplicas`), and the data
 * stream's are set when `dataReplicas` is given.
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
    (existing) => raiseReplicas(jsm, existing, replicas, opts.logger),
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
      num_replicas: opts.dataReplicas ?? replicas,
    },
    async (existing) => {
      if (opts.dataReplicas !== undefined) await setReplicas(jsm, existing, opts.dataReplicas, opts.logger);
    },
    opts.logger,
  );
  return jsm;
}

type StreamCfg = Partial<StreamConfig> & { name: string; num_replicas: number };

function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

async function ensureStream(jsm: JetStreamManager, cfg: StreamCfg, whenExists: (existing: StreamInfo) => Promise<unknown>, logger: Logger | undefined): Promise<void> {
  let existing: StreamInfo | undefined;
  try {
    existing = await jsm.streams.info(cfg.name);
  } catch (err) {
    // anything else (a timeout while a leader is elected) is for the caller to retry, not a
    // reason to create: the create would fail, or wait for the meta leader, just the same
    if (!isStreamNotFound(err)) throw err;
  }
  if (existing) {
    await whenExists(existing);
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
