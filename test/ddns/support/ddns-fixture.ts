import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { startNats, type NatsServerHandle } from '@sluice/testing';
import { createDdns, parseDdnsConfig, type Ddns } from '@sluice/ddns';

export const TUNNEL_ZONE = 'sluice.test';
export const DYN_ZONE = 'dyn.sluice.test';

export interface DdnsFixture {
  nats: NatsServerHandle;
  nc: NatsConnection;
  ddns: Ddns;
  port: number;
  /** Starts another ddns instance on the same NATS (a replica, or the same one after a restart). */
  startDdns(overrides?: Record<string, unknown>): Promise<Ddns>;
  stop(): Promise<void>;
}

export const silentLogger = pino({ level: process.env.SLUICE_TEST_LOG_LEVEL ?? 'silent' });

export function ddnsConfig(overrides: Record<string, unknown> = {}) {
  return parseDdnsConfig({
    tunnelZone: TUNNEL_ZONE,
    dynZone: DYN_ZONE,
    port: 0,
    nameservers: [{ name: `ns1.${TUNNEL_ZONE}`, ipv4: ['192.0.2.53'] }],
    edgeAddresses: { ipv4: ['192.0.2.10'], ipv6: [] },
    rateLimit: false,
    ...overrides,
  });
}

/** A nats-server and one ddns on a free port (UDP and TCP), rate limit off unless asked. */
export async function startDdnsFixture(overrides: Record<string, unknown> = {}, nats?: NatsServerHandle): Promise<DdnsFixture> {
  const server = nats ?? (await startNats());
  const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const instances: Ddns[] = [];
  const startDdns = async (more: Record<string, unknown> = {}): Promise<Ddns> => {
    const d = createDdns(ddnsConfig({ ...overrides, ...more }), { nc, logger: silentLogger });
    await d.start();
    instances.push(d);
    return d;
  };
  const ddns = await startDdns();
  return {
    nats: server,
    nc,
    ddns,
    port: ddns.address().port,
    startDdns,
    async stop() {
      for (const d of instances) await d.stop().catch(() => undefined);
      await nc.close();
      if (!nats) await server.stop();
    },
  };
}
