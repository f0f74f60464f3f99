import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { startNats, type NatsServerHandle } from '@sluice/testing';
import { createRegistry, parseRegistryConfig, type Registry } from '../src/index.ts';

/** The REST API makes a SERVER span per request (@fastify/otel), continuing the caller's traceparent. */
describe('registry API spans', () => {
  const exporter = new InMemorySpanExporter();
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let registry: Registry;

  beforeAll(async () => {
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    registry = createRegistry(parseRegistryConfig(JSON.stringify({ zone: 'sluice.test', api: { port: 0 } })), { nc, logger: pino({ level: 'silent' }) });
    await registry.start();
  });
  afterAll(async () => {
    await registry?.stop();
    await nc?.drain();
    await nats?.stop();
    trace.disable();
    propagation.disable();
  });

  it('one span per request, child of the incoming traceparent, with the route', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await fetch(`http://127.0.0.1:${registry.apiPort}/v1/me`, {
      headers: { authorization: `Bearer ${registry.bootstrapToken}`, traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(res.status).toBe(200);
    const spans = exporter.getFinishedSpans();
    const req = spans.find((s) => s.name === 'request');
    expect(req, spans.map((s) => s.name).join(', ')).toBeDefined();
    expect(req!.spanContext().traceId).toBe(traceId);
    expect(req!.attributes['http.route']).toBe('/v1/me');
  });
});
