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
 * addresses of edges that reported recently, so a crashed edge drops out by itself.
 */
export function startEdgeAddressReports(nc: NatsConnection, edgeId: string, addrs: EdgePublicAddresses, periodMs: number, logger: Logger): EdgeAddressReports {
  const send = (a: EdgePublicAddresses): void => {
    if (nc.isClosed()) return;
    try {
      nc.publish(dnsSubjects.edgeAddress(edgeId), dnsCodecs.edgeAddress.encode({ v: 1, edgeId, ipv4: a.ipv4, ipv6: a.ipv6, ts: Date.now() }));
    } catch (err) {
      logger.warn({ err }, 'edge address report failed');
    }
  };
  send(addrs);
  const timer = setInterval(() => send(addrs), periodMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      send({ ipv4: [], ipv6: [] });
    },
  };
}
