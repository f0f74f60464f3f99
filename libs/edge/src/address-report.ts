import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { dnsCodecs, dnsSubjects } from '@sluice/contracts';

export interface EdgePublicAddresses {
  ipv4: string[];
  ipv6: string[];
}

export interface EdgeAddressReports {
  /** Announces that this edge is gone (an empty report), so ddns stops answering its addresses. */
  stop(): void;
}

/**
 * Announces the edge's public addresses on `sluice.dns.edge.<id>.address` (stream SLUICE_DNS keeps
 * the last report per edge) at start and every `periodMs`; ddns answers the tunnel zone with the
 * addresses of edges that reported recently, so a crashed edge drops out by itself. A report the
 * stream did not store (ddns, which creates it, not started yet) is retried soon, not a period later.
 */
export function startEdgeAddressReports(nc: NatsConnection, edgeId: string, addrs: EdgePublicAddresses, periodMs: number, logger: Logger): EdgeAddressReports {
  const js = jetstream(nc, { timeout: 2_000 });
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const report = (a: EdgePublicAddresses): Promise<void> =>
    js.publish(dnsSubjects.edgeAddress(edgeId), dnsCodecs.edgeAddress.encode({ v: 1, edgeId, ipv4: a.ipv4, ipv6: a.ipv6, ts: Date.now() })).then(() => undefined);
  const schedule = (ms: number): void => {
    timer = setTimeout(() => void send(0), ms);
    timer.unref();
  };
  const send = async (failures: number): Promise<void> => {
    if (stopped || nc.isClosed()) return;
    try {
      await report(addrs);
      if (!stopped) schedule(periodMs);
    } catch (err) {
      if (failures % 10 === 0) logger.warn({ err: (err as Error).message }, 'edge address report not stored yet; retrying');
      if (!stopped) {
        timer = setTimeout(() => void send(failures + 1), Math.min(periodMs, 250 * 2 ** Math.min(failures, 6)));
        timer.unref();
      }
    }
  };
  void send(0);
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (!nc.isClosed()) report({ ipv4: [], ipv6: [] }).catch((err: unknown) => logger.warn({ err }, 'could not withdraw the edge address'));
    },
  };
}
