import { describe, it, expect } from 'vitest';
import { createContextKey, ROOT_CONTEXT } from '@opentelemetry/api';
import { SynchronousContextManager, tracingRequested } from '../src/index.ts';

describe('tracingRequested', () => {
  it('is off without OTEL_* variables, so no SDK is loaded', () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toBe(false);
  });

  it('is on with an OTLP endpoint or a traces exporter other than none', () => {
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'none, otlp' })).toBe(true);
  });

  it('is off when the variables say so, whatever else is set', () => {
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(false);
    expect(tracingRequested({ OTEL_SDK_DISABLED: 'TRUE', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(false);
    expect(tracingRequested({ OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: '' })).toBe(false);
  });
});

describe('SynchronousContextManager', () => {
  const key = createContextKey('test');
  it('makes a context active for the duration of a synchronous call, nested, and restores it after a throw', () => {
    const m = new SynchronousContextManager();
    const a = ROOT_CONTEXT.setValue(key, 'a');
    const b = ROOT_CONTEXT.setValue(key, 'b');
    expect(m.active()).toBe(ROOT_CONTEXT);
    const seen = m.with(a, () => [m.active().getValue(key), m.with(b, () => m.active().getValue(key)), m.active().getValue(key)]);
    expect(seen).toEqual(['a', 'b', 'a']);
    expect(() =>
      m.with(a, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(m.active()).toBe(ROOT_CONTEXT);
  });

  it('binds a function to a context and passes this and arguments through', () => {
    const m = new SynchronousContextManager();
    const a = ROOT_CONTEXT.setValue(key, 'a');
    const bound = m.bind(a, function (this: { n: number }, x: number) {
      return [m.active().getValue(key), this.n + x];
    });
    expect(bound.call({ n: 1 }, 2)).toEqual(['a', 3]);
    expect(m.active()).toBe(ROOT_CONTEXT);
  });
});
