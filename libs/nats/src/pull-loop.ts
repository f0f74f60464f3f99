import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';

export interface PullLoopOptions {
  stream: string;
  durable: string;
  /** Messages asked for at once; more are asked for when a quarter of them has arrived. */
  maxMessages: number;
  /** How often the server confirms a waiting pull that has nothing to deliver (ms). */
  heartbeatMs: number;
  /** How long one pull waits on the server (ms). */
  expiresMs: number;
}

/** What the server said about a pull, beyond delivering messages. */
export type PullEvent =
  | { type: 'heartbeat' }
  /** A new leader invalidated the pulls its predecessor held: they were asked for again. */
  | { type: 'leadership_change' }
  | { type: 'consumer_deleted' }
  /** Refused or failed: too many waiting pulls, a bad request, no one to answer. */
  | { type: 'refused'; code: number; description: string };

export interface PullLoop {
  /** Forgets what was asked for and asks again now (a pull that may have been lost). */
  pullAgain(): void;
  /** When a message or a server confirmation of a pull last arrived (ms since the epoch). */
  readonly lastHeard: number;
  /** When a pull was last sent. */
  readonly lastPull: number;
  stop(): void;
}

/** The JetStream API prefix of the default domain. */
const JS_API = '$JS.API';

/**
 * The client side of pulling from a JetStream consumer, written out instead of nats.js's
 * `consume()` for what a server loss needs:
 * - one inbox subscription for the life of the loop: every pull replies there (`<inbox>.<n>.<batch>`),
 *   so a message the server sends for any pull, current or given up on, is delivered, never
 *   dropped with a closed inbox (pulls are ack-less: a dropped message is lost);
 * - the "409 Leadership Change" a new consumer leader sends to the pulls it inherited is a signal
 *   to pull again at once (consume() waits for two missed heartbeats after it instead).
 * Pulls are pipelined like consume(): `maxMessages` outstanding, topped up when a quarter arrived.
 */
export function startPullLoop(
  nc: NatsConnection,
  opts: PullLoopOptions,
  onMessage: (m: Msg) => void,
  onEvent: (e: PullEvent) => void,
  logger: Logger,
): PullLoop {
  const inbox = createInbox(inboxPrefixOf(nc));
  const nextSubject = `${JS_API}.CONSUMER.MSG.NEXT.${opts.stream}.${opts.durable}`;
  const request = (batch: number): string =>
    JSON.stringify({ batch, expires: opts.expiresMs * 1_000_000, idle_heartbeat: opts.heartbeatMs * 1_000_000 });
  /** Bumped whenever outstanding pulls are given up on: their later statuses no longer count. */
  let generation = 0;
  /** Messages asked for by this generation's pulls and not yet delivered or given back. */
  let pending = 0;
  let lastHeard = Date.now();
  let lastPull = 0;
  let stopped = false;

  const pull = (batch: number): void => {
    if (stopped || batch <= 0 || nc.isClosed()) return;
    pending += batch;
    lastPull = Date.now();
    nc.publish(nextSubject, request(batch), { reply: `${inbox}.${generation}.${batch}` });
  };
  const topUp = (): void => {
    if (pending <= opts.maxMessages * 0.75) pull(opts.maxMessages - pending);
  };
  const pullAgain = (): void => {
    generation++;
    pending = 0;
    pull(opts.maxMessages);
  };

  const onStatus = (m: Msg): void => {
    // <inbox>.<generation>.<batch>
    const [gen, batch] = m.subject.slice(inbox.length + 1).split('.').map(Number);
    const current = gen === generation;
    const code = m.headers?.code ?? 0;
    const description = (m.headers?.description ?? '').toLowerCase();
    if (code === 100) {
      lastHeard = Date.now();
      onEvent({ type: 'heartbeat' });
      return;
    }
    if (code === 409 && description.includes('leadership change')) {
      // whichever pull it was, a leader exists now and holds none of ours
      lastHeard = Date.now();
      onEvent({ type: 'leadership_change' });
      pullAgain();
      return;
    }
    if (code === 409 && description.includes('consumer deleted')) {
      onEvent({ type: 'consumer_deleted' });
      return;
    }
    // a pull ended with messages still owed (expired, 408): give them back and ask again
    const owed = Number(m.headers?.get('Nats-Pending-Messages') || '');
    if (code === 408 || (code === 409 && Number.isFinite(owed) && owed > 0)) {
      lastHeard = Date.now();
      if (current) {
        pending = Math.max(0, pending - (Number.isFinite(owed) && owed > 0 ? owed : 0));
        topUp();
      }
      return;
    }
    // refused outright (too many waiting pulls, bad request, no responders): nothing of it is owed
    if (current && batch !== undefined && Number.isFinite(batch)) pending = Math.max(0, pending - batch);
    logger.debug({ stream: opts.stream, consumer: opts.durable, code, description: m.headers?.description }, 'pull refused');
    onEvent({ type: 'refused', code, description: m.headers?.description ?? '' });
  };

  const sub: Subscription = nc.subscribe(`${inbox}.>`, {
    callback: (err, m) => {
      if (err) {
        logger.error({ err, stream: opts.stream, consumer: opts.durable }, 'pull inbox subscription failed');
        return;
      }
      // statuses are addressed to the reply subject; messages keep the subject they were stored under
      if (m.subject.startsWith(`${inbox}.`)) {
        onStatus(m);
        return;
      }
      lastHeard = Date.now();
      if (pending > 0) pending--;
      try {
        onMessage(m);
      } catch (e) {
        logger.error({ err: e, stream: opts.stream, consumer: opts.durable, subject: m.subject }, 'message handler threw');
      }
      topUp();
    },
  });
  pull(opts.maxMessages);

  return {
    pullAgain,
    get lastHeard() {
      return lastHeard;
    },
    get lastPull() {
      return lastPull;
    },
    stop() {
      stopped = true;
      sub.unsubscribe();
    },
  };
}

/**
 * The reply-subject prefix the connection was made with (an agent's permissions allow only its
 * own). NatsConnection does not declare it; its implementation keeps it in `options`, where
 * nats.js's own JetStream client reads it.
 */
function inboxPrefixOf(nc: NatsConnection): string | undefined {
  const options = (nc as { options?: { inboxPrefix?: unknown } }).options;
  return typeof options?.inboxPrefix === 'string' && options.inboxPrefix !== '' ? options.inboxPrefix : undefined;
}
