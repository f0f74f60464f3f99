import { jetstream, jetstreamManager, AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type JsMsg, type ConsumerMessages } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { ensureStreams } from './assets.ts';
import { onReconnect } from './connect.ts';

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
   * Create the Sluice streams when missing (default true: services). False for a client whose
   * credentials may not create streams (an agent): it waits until a service has created them.
   */
  createStreams?: boolean;
  /**
   * False: someone else creates and deletes this consumer (an agent's are the registry's); this
   * process only reads it. When it is missing, `onMissing` is called (ask for it again) and
   * reading is retried.
   */
  manage?: boolean;
  onMissing?: () => Promise<void>;
}

/** The pull consumer every Sluice reader uses: ack-less, new messages only, gone when unused. */
export async function ensurePullConsumer(
  nc: NatsConnection,
  spec: Pick<PullConsumerSpec, 'stream' | 'durable' | 'filterSubject' | 'inactiveThresholdMs'>,
  fresh: boolean,
): Promise<void> {
  // no account-info probe (it needs the meta leader, re-elected for seconds after a server dies)
  const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: 2_000 });
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

/**
 * Runs one ack-less pull consumer for the life of the process, delivering to `onMessage` in
 * order. After a reconnect it re-creates the streams and the consumer if the server lost them
 * and starts pulling again, so the caller never has to.
 */
export async function runPullConsumer(
  nc: NatsConnection,
  spec: PullConsumerSpec,
  onMessage: (m: JsMsg) => void,
  logger: Logger,
): Promise<RunningConsumer> {
  const js = jetstream(nc, { checkAPI: false, timeout: 2_000 });
  let messages: ConsumerMessages | undefined;
  let stopped = false;
  let generation = 0;

  const manage = spec.manage ?? true;
  const ensureConsumer = async (fresh: boolean): Promise<void> => {
    if (manage) return ensurePullConsumer(nc, spec, fresh);
    // not ours to create: check it is there, else ask for it (the caller re-registers) and look again
    // no account-info probe (it needs the meta leader, re-elected for seconds after a server dies)
  const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: 2_000 });
    const exists = await jsm.consumers.info(spec.stream, spec.durable).then(() => true, () => false);
    if (exists) return;
    await spec.onMissing?.();
    await jsm.consumers.info(spec.stream, spec.durable);
  };

  const start = async (): Promise<void> => {
    const gen = ++generation;
    const consumer = await js.consumers.get(spec.stream, spec.durable);
    if (stopped || gen !== generation) return;
    messages = await consumer.consume({
      max_messages: spec.maxMessages ?? 256,
      expires: 5_000,
      callback: onMessage,
    });
  };

  const createStreams = spec.createStreams ?? true;
  for (let attempt = 0; ; attempt++) {
    try {
      if (createStreams) await ensureStreams(nc);
      await ensureConsumer(spec.fresh ?? false);
      break;
    } catch (err) {
      // a reader that creates nothing waits for the streams (services) and its consumer (registry)
      if ((createStreams && manage) || !isNotFoundYet(err)) throw err;
      logger.warn({ stream: spec.stream, consumer: spec.durable, attempt }, 'stream not created yet; waiting for the gateway services');
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
    }
  }
  await start();

  let recovering = false;
  onReconnect(nc, () => {
    if (stopped || recovering) return;
    recovering = true;
    void (async () => {
      for (let attempt = 0; !stopped; attempt++) {
        try {
          messages?.stop();
          if (createStreams) await ensureStreams(nc);
          await ensureConsumer(false);
          await start();
          logger.info({ consumer: spec.durable }, 'consumer resumed after reconnect');
          break;
        } catch (err) {
          logger.warn({ err, consumer: spec.durable, attempt }, 'consumer resume failed; retrying');
          await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
        }
      }
      recovering = false;
    })();
  });

  return {
    async stop() {
      stopped = true;
      messages?.stop();
    },
  };
}

function isNotFoundYet(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.ConsumerNotFound);
}
