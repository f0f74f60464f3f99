import type { Logger } from 'pino';
import { context, propagation } from '@opentelemetry/api';
import { devCodecs, tunnelRoutes, type TunnelHeartbeat, type TunnelReportReply, type TunnelState, type TunnelStatusReport } from '@sluice/contracts';

export interface ReporterConfig {
  operatorUrl: string;
  tunnelId: string;
  token: string;
  pod: string;
  heartbeatMs: number;
}

export interface Reporter {
  /** Reports a state change now (retried until the operator takes it, or a newer one replaces it). */
  status(state: TunnelState, reason?: string): void;
  start(current: () => { state: TunnelState; activeConnections: number }): void;
  /** Stops heartbeats; `final` is reported once more, best effort, within `timeoutMs`. */
  stop(final?: { state: TunnelState; reason: string }, timeoutMs?: number): Promise<void>;
  /** The operator's last answer. */
  readonly lastReply: TunnelReportReply | undefined;
  readonly stats: { sent: number; failed: number; refused: number };
}

type Outcome = { ok: true; reply: TunnelReportReply } | { ok: false; retry: boolean; message: string };

/**
 * The tunnel pod's side of the operator's REST API: a status report at each change of state and a
 * heartbeat every `heartbeatMs` with the current state (so an operator that missed a change, or
 * restarted, converges within one period). Bodies are the contracts' schemas; so is the answer.
 */
export function createReporter(cfg: ReporterConfig, deps: { logger: Logger; fetch?: typeof fetch }): Reporter {
  const { logger } = deps;
  const doFetch = deps.fetch ?? fetch;
  const base = cfg.operatorUrl.replace(/\/$/, '');
  const stats = { sent: 0, failed: 0, refused: 0 };
  let lastReply: TunnelReportReply | undefined;
  let pending: TunnelStatusReport | undefined;
  let sending = false;
  let heartbeat: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  let failures = 0;

  const send = async (method: 'PUT' | 'POST', path: string, body: TunnelStatusReport | TunnelHeartbeat, timeoutMs: number): Promise<Outcome> => {
    const headers: Record<string, string> = { authorization: `Bearer ${cfg.token}`, 'content-type': 'application/json' };
    propagation.inject(context.active(), headers);
    let res: Response;
    try {
      res = await doFetch(base + path, { method, headers, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      stats.failed++;
      return { ok: false, retry: true, message: `operator unreachable at ${base}: ${(err as Error).message}` };
    }
    const text = await res.text().catch(() => '');
    if (res.ok) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (!devCodecs.tunnelReportReply.check(parsed)) {
        stats.failed++;
        return { ok: false, retry: true, message: `the operator answered ${res.status} with a body that is not a TunnelReportReply` };
      }
      stats.sent++;
      lastReply = parsed;
      return { ok: true, reply: parsed };
    }
    const message = `${method} ${path}: HTTP ${res.status}: ${text.slice(0, 300)}`;
    // the operator is starting (503) or overloaded (429, 5xx): again later; any other 4xx is final
    const retry = res.status === 503 || res.status === 429 || res.status >= 500;
    if (retry) stats.failed++;
    else stats.refused++;
    return { ok: false, retry, message };
  };

  const flush = async (): Promise<void> => {
    if (sending || stopped) return;
    sending = true;
    try {
      while (pending && !stopped) {
        const report = pending;
        const r = await send('PUT', tunnelRoutes.status(cfg.tunnelId), report, 3_000);
        if (pending === report) pending = undefined;
        if (r.ok) {
          failures = 0;
          logger.info({ state: report.state, serviceTarget: r.reply.serviceTarget }, 'status reported to the operator');
          continue;
        }
        if (!r.retry) {
          logger.error({ err: r.message, state: report.state }, 'the operator refused the status report');
          continue;
        }
        logger.warn({ err: r.message, state: report.state }, 'status report failed; retrying');
        pending ??= report;
        const delay = Math.min(2_000, 100 * 2 ** Math.min(failures++, 5));
        await new Promise<void>((resolve) => {
          retryTimer = setTimeout(resolve, delay);
        });
      }
    } finally {
      sending = false;
    }
  };

  return {
    get lastReply() {
      return lastReply;
    },
    stats,
    status(state, reason) {
      pending = { v: 1, pod: cfg.pod, state, ...(reason ? { reason: reason.slice(0, 256) } : {}) };
      void flush();
    },
    start(current) {
      const beat = (): void => {
        const c = current();
        void send('POST', tunnelRoutes.heartbeat(cfg.tunnelId), { v: 1, pod: cfg.pod, state: c.state, activeConnections: c.activeConnections }, Math.min(cfg.heartbeatMs, 3_000)).then((r) => {
          if (!r.ok) logger.warn({ err: r.message }, 'heartbeat to the operator failed');
        });
      };
      beat();
      heartbeat = setInterval(beat, cfg.heartbeatMs);
    },
    async stop(final, timeoutMs = 2_000) {
      if (heartbeat) clearInterval(heartbeat);
      if (retryTimer) clearTimeout(retryTimer);
      stopped = true;
      if (final) {
        const r = await send('PUT', tunnelRoutes.status(cfg.tunnelId), { v: 1, pod: cfg.pod, state: final.state, reason: final.reason.slice(0, 256) }, timeoutMs);
        if (!r.ok) logger.warn({ err: r.message }, 'final status report failed');
      }
    },
  };
}
