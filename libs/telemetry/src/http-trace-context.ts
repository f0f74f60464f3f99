import { isSpanContextValid, TraceFlags, type SpanContext } from '@opentelemetry/api';

const CR = 0x0d;
const LF = 0x0a;

/**
 * A request head with the trace context of `spanContext` as W3C Trace Context header fields
 * (`traceparent`, and `tracestate` when there is one) right after the request line, so that the
 * upstream continues the trace. Fields of the same names that the client sent are dropped: a
 * public client's trace context is not trusted, and two `traceparent` fields would be invalid.
 * Written directly in the W3C format rather than through the global propagator: HTTP upstreams
 * speak W3C, and the result must not depend on what a process registered.
 *
 * Returns `head` itself when the span context is not a valid, sampled one (tracing off, or not
 * sampled): then nothing is touched. `head` is one complete request head as the edge's framer
 * emits it (CRLF line ends, optional empty lines before the request line).
 */
export function withTraceContext(head: Buffer, spanContext: SpanContext): Buffer {
  if (!isSpanContextValid(spanContext) || (spanContext.traceFlags & TraceFlags.SAMPLED) === 0) return head;
  const fields: Record<string, string> = {
    traceparent: `00-${spanContext.traceId}-${spanContext.spanId}-${(spanContext.traceFlags & 0xff).toString(16).padStart(2, '0')}`,
  };
  const state = spanContext.traceState?.serialize();
  if (state) fields.tracestate = state;
  const names = Object.keys(fields);

  let start = 0; // RFC 9112 2.2: empty lines before the request line are allowed
  while (head[start] === CR && head[start + 1] === LF) start += 2;
  const requestLineEnd = head.indexOf('\r\n', start, 'latin1');
  if (requestLineEnd < 0) return head;
  const parts: Buffer[] = [head.subarray(0, requestLineEnd + 2), Buffer.from(names.map((n) => `${n}: ${fields[n]}\r\n`).join(''), 'latin1')];
  // a client's tracestate belongs to its own traceparent: both go
  const drop = new Set(['traceparent', 'tracestate']);
  let lineStart = requestLineEnd + 2;
  let keptFrom = lineStart;
  while (lineStart < head.length) {
    const lineEnd = head.indexOf('\r\n', lineStart, 'latin1');
    if (lineEnd < 0 || lineEnd === lineStart) break; // the empty line that ends the head
    const colon = head.indexOf(':', lineStart, 'latin1');
    if (colon > lineStart && colon < lineEnd && drop.has(head.toString('latin1', lineStart, colon).toLowerCase())) {
      parts.push(head.subarray(keptFrom, lineStart));
      keptFrom = lineEnd + 2;
    }
    lineStart = lineEnd + 2;
  }
  parts.push(head.subarray(keptFrom));
  return Buffer.concat(parts);
}
