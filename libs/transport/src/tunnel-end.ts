import type { NatsConnection } from '@nats-io/transport-node';
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { TransportOptions } from './transport.ts';

/** What either end of a tunnel (the edge, the agent) is built with. */
export interface TunnelEndDeps {
  nc: NatsConnection;
  /** Heartbeats go here when given (a connection that tunnel bytes never congest). */
  controlNc?: NatsConnection;
  logger: Logger;
  tracer?: Tracer;
  metrics?: Registry;
  transportOptions?: TransportOptions;
}
