import { jetstreamManager, AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { nanos, type Msg, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { ensureStreams, type EnsureStreamsOptions } from './assets.ts';
import { onDisconnect, onReconnect } from './connect.ts';
import { startPullLoop } from './pull-loop.ts';

export interface PullConsumerSpec {
  stream: string;
  durable: string;
  filterSubject: string;
  /** The server deletes the consumer after this long without a pull (a process that died). */
  inactiveThresholdMs?: number;
  /** Start from scratch: delete an existing consumer of this name first (a fresh process). */
  fresh?: boolean;
  maxMessages?: number;
  /**
   * How often the server confirms a pull that has nothing to deliver (ms, at least 500): a pull
   * lost with its consumer's leader is noticed after three silent intervals. Default 500.
   */
  idleHeartbeatMs?: number;
  /**
   * Create the Sluice streams when missing (default true: services). False for a client whose
   * credentials may not create streams (an agent): it waits until a service has created them.
   */
  createStreams?: boolean;
  /** How the streams are made when this consumer creates them (see `ensureStreams`). */
  streams?: EnsureStreamsOptions;
  /**
   * False: someone else creates and deletes this consumer (an agent's are the registry's); this
   * process only reads it. When it is missing, `onMissing` is called (ask for it again) and
   * reading is retried.
   */
  manage?: boolean;
  onMissing?: () => Promise<void>;
}

/** JetStream API requests; one sent while a leader is being elected is never answered. */
const API_TIMEOUT_MS = 2_000;

/** The pull consumer every Sluice reader uses: ack-less, new messages only, gone when unused. */
export async function ensurePullConsumer(
  nc: NatsConnection,
  spec: Pick<PullConsumerSpec, 'stream' | 'durable' | 'filterSubject' | 'inactiveThresholdMs'>,
  fresh: boolean,
): Promise<void> {
  // no account-info probe (it needs the meta leader, re-elected for seconds after a server dies)
  const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: API_TIMEOUT_MS });
  if (fresh) await jsm.consumers.delete(spec.stream, spec.durable).catch(() => undefined);
  else {
    const exists = await jsm.consumers.info(spec.stream, spec.durable).then(() => true, () => false);
    if (exists) return;
  }
  await jsm.consumers.add(spec.stream, {
    durable_name: spec.durable,
    filter_subject: spec.filterSubject,
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.New,
    inactive_threshold: nanos(spec.inactiveThresholdMs ?? 60_000),
    max_waiting: 16,
  });
}

export interface RunningConsumer {
  stop(): Promise<void>;
}

/** How long one pull waits on the server. */
const PULL_EXPIRES_MS = 5_000;

/**
 * Runs one ack-less pull consumer for the life of the process, delivering to `onMessage` in
 * order, and keeps it pulling through reconnects and server losses, so the caller never has to.
 *
 * On a cluster, a consumer (like its stream) is led by one server. When that server dies, the
 * pull waiting there dies with it, and nats-server elects a new leader only 4-9 s later (the Raft
 * election timeout, fixed in 2.9); the new leader serves nothing until it is asked again. So:
 * - the new leader's "409 Leadership Change" to the pulls it inherited makes us pull again at
 *   once (see `startPullLoop`);
 * - the server confirms an idle pull every `idleHeartbeatMs`; when neither a message nor a
 *   confirmation came for three intervals (the pull went to a leader that died, or to none), it
 *   is issued again, and again about every interval until one is answered;
 * - pulling never waits on a JetStream API answer: whether the consumer and its stream still
 *   exist is checked beside it, and only a definite "not found" (memory streams do not survive a
 *   lone server's restart), never a timeout (no leader yet), re-creates them.
 */
export async function runPullConsumer(
  nc: NatsConnection,
  spec: PullConsumerSpec,
  onMessage: (m: Msg) => void,
  logger: Logger,
): Promise<RunningConsumer> {
  // no account-info probe (it needs the meta leader, re-elected for seconds after a server dies)
  const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: API_TIMEOUT_MS });
  const heartbeatMs = Math.max(500, spec.idleHeartbeatMs ?? 500);
  const silentLimitMs = 3 * heartbeatMs;
  const repullEveryMs = heartbeatMs + 250;
  const manage = spec.manage ?? true;
  const createStreams = spec.createStreams ?? true;
  const ids = { stream: spec.stream, consumer: spec.durable };

  const ensureConsumer = async (fresh: boolean): Promise<void> => {
    if (manage) return ensurePullConsumer(nc, spec, fresh);
    // not ours to create: check it is there, else ask for it (the caller re-registers) and look again
    const exists = await jsm.consumers.info(spec.stream, spec.durable).then(() => true, () => false);
    if (exists) return;
    await spec.onMissing?.();
    await jsm.consumers.info(spec.stream, spec.durable);
  };

  for (let attempt = 0; ; attempt++) {
    try {
      if (createStreams) await ensureStreams(nc, spec.streams);
      await ensureConsumer(spec.fresh ?? false);
      break;
    } catch (err) {
      // a reader that creates nothing waits for the streams (services) and its consumer (registry)
      if ((createStreams && manage) || !isNotFound(err)) throw err;
      logger.warn({ ...ids, attempt }, 'stream not created yet; waiting for the gateway services');
      await sleep(Math.min(2000, 100 * 2 ** attempt));
    }
  }

  let stopped = false;
  let connected = true;
  /** lastHeard when the consumer was found silent; 0 while it answers. */
  let silentSince = 0;
  let repulls = 0;
  let checking = false;
  let lastCheck = 0;

  /** Re-creates the consumer (and the streams) only when the server says they are gone. */
  const check = async (): Promise<void> => {
    if (checking || stopped || !connected) return;
    checking = true;
    lastCheck = Date.now();
    try {
      await jsm.consumers.info(spec.stream, spec.durable);
    } catch (err) {
      if (!isNotFound(err)) return; // no answer: a leader is being elected, the pulls go on
      logger.warn({ ...ids, err: (err as Error).message }, 'consumer gone; re-creating it');
      try {
        if (createStreams) await ensureStreams(nc, spec.streams);
        await ensureConsumer(false);
        loop.pullAgain();
        logger.info(ids, 'consumer re-created');
      } catch (err2) {
        logger.warn({ ...ids, err: (err2 as Error).message }, 'could not re-create the consumer yet; retrying');
      }
    } finally {
      checking = false;
    }
  };

  const loop = startPullLoop(
    nc,
    { stream: spec.stream, durable: spec.durable, maxMessages: spec.maxMessages ?? 256, heartbeatMs, expiresMs: PULL_EXPIRES_MS },
    onMessage,
    (e) => {
      if (e.type === 'leadership_change') logger.info(ids, 'consumer has a new leader; pulled again');
      else if (e.type === 'consumer_deleted' || e.type === 'refused') void check();
    },
    logger,
  );

  const tickMs = Math.min(250, heartbeatMs / 2);
  let lastTick = Date.now();
  const watchdog = setInterval(() => {
    const now = Date.now();
    const late = now - lastTick > tickMs + 500;
    lastTick = now;
    // a stalled event loop may have confirmations unread in its socket: judge nothing this round
    if (late || stopped || !connected) return;
    if (now - loop.lastHeard <= silentLimitMs) {
      if (silentSince !== 0) {
        logger.info({ ...ids, silentMs: loop.lastHeard - silentSince, repulls }, 'consumer answers again');
        silentSince = 0;
        repulls = 0;
      }
      return;
    }
    if (silentSince === 0) {
      silentSince = loop.lastHeard;
      logger.warn({ ...ids, silentMs: now - loop.lastHeard }, 'no message or heartbeat from the consumer (leader lost?); pulling again until it answers');
    }
    if (now - loop.lastPull >= repullEveryMs) {
      repulls++;
      loop.pullAgain();
    }
    if (now - lastCheck > 2_000) void check();
  }, tickMs);
  watchdog.unref();

  onDisconnect(nc, () => {
    connected = false;
  });
  onReconnect(nc, () => {
    connected = true;
    if (stopped) return;
    // the pulls waited on the server we lost; and a server that restarted lost its memory streams
    loop.pullAgain();
    void check();
  });

  return {
    async stop() {
      stopped = true;
      clearInterval(watchdog);
      loop.stop();
    },
  };
}

function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.ConsumerNotFound);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
