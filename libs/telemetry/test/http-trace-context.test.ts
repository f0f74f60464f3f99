import { describe, it, expect } from 'vitest';
import { INVALID_SPAN_CONTEXT, TraceFlags, type SpanContext } from '@opentelemetry/api';
import { HttpRequestFramer } from '@sluice/wire';
import { withTraceContext } from '../src/index.ts';

const sampled: SpanContext = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED };
const traceparent = 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n';

/** The head the edge's framer emits for `text`, so the tests see the bytes the edge would. */
function head(text: string): Buffer {
  const outs = new HttpRequestFramer({ maxHeadBytes: 16 * 1024 }).push(Buffer.from(text, 'latin1'));
  const h = outs.find((o) => o.kind === 'head');
  if (!h || h.kind !== 'head') throw new Error('no head');
  return h.raw;
}

/** The fields a strict parser sees in the result: it must still be one valid head. */
function reparse(buf: Buffer): Array<[string, string]> {
  const outs = new HttpRequestFramer({ maxHeadBytes: 16 * 1024 }).push(buf);
  const h = outs.find((o) => o.kind === 'head');
  if (!h || h.kind !== 'head') throw new Error('not a complete head');
  return h.head.headers;
}

describe('withTraceContext', () => {
  it('puts traceparent right after the request line and keeps everything else byte for byte', () => {
    const raw = head('GET /a?b=c HTTP/1.1\r\nHost: demo.sluice.localhost\r\nAccept: */*\r\n\r\n');
    const out = withTraceContext(raw, sampled).toString('latin1');
    expect(out).toBe(`GET /a?b=c HTTP/1.1\r\n${traceparent}Host: demo.sluice.localhost\r\nAccept: */*\r\n\r\n`);
    expect(reparse(Buffer.from(out, 'latin1'))).toContainEqual(['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']);
  });

  it('replaces the trace context a client sent (any case), so the upstream sees exactly one', () => {
    const raw = head('POST / HTTP/1.1\r\nTraceParent: 00-11111111111111111111111111111111-2222222222222222-01\r\nHost: x\r\ntracestate: vendor=1\r\nContent-Length: 0\r\n\r\n');
    const fields = reparse(withTraceContext(raw, sampled));
    expect(fields.filter(([n]) => /^trace(parent|state)$/i.test(n))).toEqual([['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']]);
    expect(fields.map(([n]) => n)).toEqual(['traceparent', 'Host', 'Content-Length']);
  });

  it('carries tracestate when the span has one, and skips empty lines before the request line', () => {
    const withState: SpanContext = { ...sampled, traceState: { serialize: () => 'sluice=1', get: () => undefined, set: () => withState.traceState!, unset: () => withState.traceState! } };
    const out = withTraceContext(head('\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n'), withState).toString('latin1');
    expect(out).toBe(`\r\nGET / HTTP/1.1\r\n${traceparent}tracestate: sluice=1\r\nHost: x\r\n\r\n`);
  });

  it('returns the very same bytes when tracing is off or the trace is not sampled', () => {
    const raw = head('GET / HTTP/1.1\r\nHost: x\r\ntraceparent: 00-11111111111111111111111111111111-2222222222222222-01\r\n\r\n');
    expect(withTraceContext(raw, INVALID_SPAN_CONTEXT)).toBe(raw);
    expect(withTraceContext(raw, { ...sampled, traceFlags: TraceFlags.NONE })).toBe(raw);
  });
});
