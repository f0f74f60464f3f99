import { isIPv4, isIPv6 } from 'node:net';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { dnsCodecs, dnsSubjects, type AgentAddress } from '@sluice/contracts';
import { onReconnect } from '@sluice/nats';

export interface AddressReportOptions {
  /** Fixed public addresses (NATS behind a proxy that hides the client, or a known static IP). */
  publicAddress?: { ipv4?: string; ipv6?: string };
  /** How often the report is repeated (it is also sent at start and after every reconnect). */
  everyMs: number;
}

export interface AddressReports {
  /** The report as last sent (tests and logs). */
  readonly last: AgentAddress | undefined;
  stop(): void;
}

/**
 * What this agent's public address is, as the gateway sees it: the NATS server tells every client
 * the address its connection comes from (`client_ip` in the INFO it sends on each connect, which
 * the client keeps in `nc.info`). For an agent behind NAT that is the NAT's public address, learnt
 * from the same connection the agent already keeps open, with nothing else to run or to trust.
 * A fixed address in the config overrides it (for a proxy in front of NATS that hides clients).
 */
export function currentAddress(nc: NatsConnection, opts: AddressReportOptions): Pick<AgentAddress, 'ipv4' | 'ipv6' | 'source'> | undefined {
  if (opts.publicAddress && (opts.publicAddress.ipv4 || opts.publicAddress.ipv6)) {
    return { ...(opts.publicAddress.ipv4 ? { ipv4: opts.publicAddress.ipv4 } : {}), ...(opts.publicAddress.ipv6 ? { ipv6: opts.publicAddress.ipv6 } : {}), source: 'config' };
  }
  const raw = nc.info?.client_ip;
  if (!raw) return undefined;
  const ip = raw.startsWith('::ffff:') && isIPv4(raw.slice(7)) ? raw.slice(7) : raw;
  if (isIPv4(ip)) return { ipv4: ip, source: 'nats' };
  if (isIPv6(ip)) return { ipv6: ip, source: 'nats' };
  return undefined;
}

/** Publishes `sluice.dns.agent.<id>.address` now, every `everyMs`, and after each reconnect. */
export function startAddressReports(nc: NatsConnection, agentId: string, opts: AddressReportOptions, logger: Logger): AddressReports {
  let last: AgentAddress | undefined;
  let stopped = false;
  const report = (): void => {
    if (stopped || nc.isClosed()) return;
    const addr = currentAddress(nc, opts);
    if (!addr) {
      logger.warn({ agentId }, 'no public address to report (the NATS server sent no client_ip; set publicAddress)');
      return;
    }
    const msg: AgentAddress = { v: 1, agentId, ...addr, ts: Date.now() };
    if (last?.ipv4 !== msg.ipv4 || last?.ipv6 !== msg.ipv6) logger.info({ agentId, ipv4: msg.ipv4, ipv6: msg.ipv6, source: msg.source }, 'public address');
    last = msg;
    nc.publish(dnsSubjects.agentAddress(agentId), dnsCodecs.agentAddress.encode(msg));
  };
  report();
  const timer = setInterval(report, opts.everyMs);
  timer.unref();
  onReconnect(nc, report);
  return {
    get last() {
      return last;
    },
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
