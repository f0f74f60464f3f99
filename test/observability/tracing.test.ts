import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { request } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { SpanKind } from '@opentelemetry/api';
import { createDemoUpstream, demoCertPaths, type DemoUpstream } from '@sluice/demo';
import { spawnService, startStack, type ServiceProcess, type Stack } from '@sluice/testing';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver.ts';
import { withServiceEnv } from './support/env.ts';

const TOKEN = 'trace-agent-token-0123456789';
const TRACED_HOST = 'traced.sluice.localhost';
const TLS_HOST = 'demo.sluice.localhost';

interface Reply {
  status: number;
  body: string;
}

/** One request on its own connection (closed after it, so the edge's connection span ends). */
function send(port: number, host: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/traced', headers: { host, connection: 'close', ...headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An HTTP/1.1 request over TLS through the edge (passthrough: the demo upstream's certificate). */
function sendTls(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: TLS_HOST, ca: readFileSync(demoCertPaths.ca), ALPNProtocols: ['http/1.1'] });
    let text = '';
    s.setEncoding('utf8');
    s.on('secureConnect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: ${TLS_HOST}\r\nConnection: close\r\n\r\n`));
    s.on('data', (c: string) => (text += c));
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
}

const one = (spans: ReceivedSpan[], service: string, name: string): ReceivedSpan => {
  const found = spans.filter((s) => s.service === service && s.name === name);
  expect(found, `${service}/${name} in ${spans.map((s) => `${s.service}/${s.name}`).join(', ')}`).toHaveLength(1);
  return found[0]!;
};

describe('one trace per tunneled connection, across processes', () => {
  let receiver: OtlpReceiver;
  let stack: Stack;
  let upstream: ServiceProcess;
  let demo: DemoUpstream;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    const otel = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '50',
    };
    demo = createDemoUpstream({ httpPort: 0, httpsPort: 0, shutdownGraceMs: 100 });
    // the registry gets no OTEL_* variables (it must run without the SDK); the others get them explicitly
    [upstream, stack] = await withServiceEnv({}, () =>
      Promise.all([
        spawnService('traced-upstream', 'test/observability/fixtures/traced-upstream.ts', otel),
        startStack({ registryAgents: [{ id: 'traced', token: TOKEN, hostnames: [TRACED_HOST, TLS_HOST] }], edgeEnv: otel, routerEnv: otel }),
        demo.start(),
      ]),
    );
    await withServiceEnv({}, () =>
      stack.startAgent({
        id: 'traced',
        token: TOKEN,
        transport: 'core',
        ingress: [
          { hostname: TRACED_HOST, service: `http://127.0.0.1:${String(upstream.ready.port)}` },
          { hostname: TLS_HOST, service: `tls://127.0.0.1:${demo.address().https}` },
        ],
        env: otel,
      }),
    );
    // the route is live once a request gets through (those requests make traces of their own)
    for (let i = 0; i < 50 && (await send(stack.httpPort, TRACED_HOST)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream?.stop();
    await demo?.stop();
    await receiver?.close();
  });

  it('starts the SDK only in the processes given OTEL_* variables', () => {
    expect(stack.edge.ready.tracing).toBe(true);
    expect(stack.router.ready.tracing).toBe(true);
    expect(stack.registry.ready.tracing).toBe(false);
    expect(upstream.ready.tracing).toBe(true);
  });

  it('links edge → router → agent, and the upstream continues the trace from the traceparent header', async () => {
    // a client's own trace context is not trusted: the upstream must see the edge's, once
    const forged = '00-11111111111111111111111111111111-2222222222222222-01';
    const reply = await send(stack.httpPort, TRACED_HOST, { traceparent: forged, tracestate: 'client=1' });
    expect(reply.status).toBe(200);
    const seen = JSON.parse(reply.body) as { traceHeaders: Array<[string, string]>; traceparent: string | null };
    expect(seen.traceHeaders).toHaveLength(1);
    const [, traceId, parentId, flags] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(seen.traceparent ?? '') ?? [];
    expect(traceId).toBeDefined();
    expect(traceId).not.toBe('11111111111111111111111111111111');
    expect(flags).toBe('01');

    const services = ['sluice-edge', 'sluice-router', 'sluice-agent', 'test-upstream'];
    // each span is exported when it ends: the edge's connection span ends after its publish span, so wait for it by name
    const all = await receiver.waitFor((spans) => services.every((svc) => spans.some((s) => s.traceId === traceId && s.service === svc)) && ['agent.dial', 'edge.http', 'router.assign', 'upstream.request'].every((name) => spans.some((s) => s.traceId === traceId && s.name === name)));
    const trace = all.filter((s) => s.traceId === traceId);

    const edge = one(trace, 'sluice-edge', 'edge.http');
    const router = one(trace, 'sluice-router', 'router.assign');
    const agent = one(trace, 'sluice-agent', 'agent.dial');
    const up = one(trace, 'test-upstream', 'upstream.request');

    // the edge's span is the root: a client's traceparent does not become its parent
    expect(edge.parentSpanId).toBe('');
    // the new-connection event is the edge's PRODUCER span; the router's span is its child
    const published = one(trace, 'sluice-edge', 'sluice.conn.opened.' + edge.attributes['sluice.edge_id'] + ' publish');
    expect(published.parentSpanId).toBe(edge.spanId);
    expect(router.parentSpanId).toBe(published.spanId);
    expect(agent.parentSpanId).toBe(router.spanId);
    // the edge writes the header into the bytes it forwards, so the upstream's parent is the edge's span
    expect(up.parentSpanId).toBe(edge.spanId);
    expect(parentId).toBe(edge.spanId);

    // OTLP JSON kinds are the API's SpanKind + 1
    expect(edge.kind).toBe(SpanKind.SERVER + 1);
    expect(router.kind).toBe(SpanKind.CONSUMER + 1);
    expect(agent.kind).toBe(SpanKind.CONSUMER + 1);

    expect(edge.attributes).toMatchObject({ 'sluice.host': TRACED_HOST, 'sluice.route': 'assigned', 'sluice.agent_id': 'traced', 'sluice.http_requests': 1 });
    expect(router.attributes).toMatchObject({ 'sluice.host': TRACED_HOST, 'sluice.agent_id': 'traced', 'sluice.conn_id': edge.attributes['sluice.conn_id'] });
    expect(agent.attributes).toMatchObject({ 'sluice.host': TRACED_HOST, 'server.address': '127.0.0.1', 'server.port': upstream.ready.port });
    // the connection's life, bytes each way: the same counts at both ends of the tunnel
    expect(Number(edge.attributes['sluice.bytes_up'])).toBeGreaterThan(0);
    expect(Number(edge.attributes['sluice.bytes_down'])).toBeGreaterThan(reply.body.length);
    expect(agent.attributes['sluice.bytes_up']).toBe(edge.attributes['sluice.bytes_up']);
    expect(agent.attributes['sluice.bytes_down']).toBe(edge.attributes['sluice.bytes_down']);
  });

  it('traces a TLS passthrough connection without touching its bytes', async () => {
    const text = await sendTls(stack.tlsPort, '/headers');
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    const headers = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
    expect(Object.keys(headers).filter((h) => h.startsWith('trace'))).toEqual([]);

    const all = await receiver.waitFor((spans) => {
      const tls = spans.find((s) => s.name === 'edge.tls');
      return tls !== undefined && ['agent.dial', 'router.assign'].every((name) => spans.some((s) => s.traceId === tls.traceId && s.name === name)) && spans.some((s) => s.traceId === tls.traceId && s.name.startsWith('sluice.conn.opened.'));
    });
    const edge = all.find((s) => s.name === 'edge.tls')!;
    const trace = all.filter((s) => s.traceId === edge.traceId);
    const router = one(trace, 'sluice-router', 'router.assign');
    const agent = one(trace, 'sluice-agent', 'agent.dial');
    expect(edge.parentSpanId).toBe('');
    const published = trace.find((s) => s.name.startsWith('sluice.conn.opened.'))!;
    expect(published.parentSpanId).toBe(edge.spanId);
    expect(router.parentSpanId).toBe(published.spanId);
    expect(agent.parentSpanId).toBe(router.spanId);
    expect(edge.attributes).toMatchObject({ 'sluice.host': TLS_HOST, 'sluice.route': 'assigned' });
    expect(agent.attributes['sluice.bytes_down']).toBe(edge.attributes['sluice.bytes_down']);
  });
});
