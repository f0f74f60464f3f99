import { ROOT_CONTEXT, type Context, type ContextManager } from '@opentelemetry/api';
import type { Logger } from '@sluice/telemetry';

/**
 * The active context for synchronous code only: `with()` sets it for the duration of the call.
 * Sluice passes trace contexts explicitly (NATS headers in, a parent context out, see
 * @sluice/telemetry), so nothing needs a context to follow it across `await`s; the SDK's default,
 * AsyncLocalStorage, made every async resource of the process pay for the hook (measured: about
 * 15% of new connections per second through the tunnel, with no span recorded at all).
 * Instrumentation libraries (http, undici…) would need AsyncLocalStorage again.
 */
export class SynchronousContextManager implements ContextManager {
  private current: Context = ROOT_CONTEXT;

  active(): Context {
    return this.current;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(context: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    const previous = this.current;
    this.current = context;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.current = previous;
    }
  }

  bind<T>(context: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const manager = this;
    const fn = target as unknown as (...args: unknown[]) => unknown;
    return function (this: unknown, ...args: unknown[]) {
      return manager.with(context, () => fn.apply(this, args));
    } as unknown as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.current = ROOT_CONTEXT;
    return this;
  }
}

export interface Tracing {
  /** Exports what is still buffered; call before the process exits. */
  shutdown(): Promise<void>;
}

const listFrom = (v: string | undefined): string[] =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');

/**
 * Do the standard OTEL_* variables ask for traces? An exporter list (`OTEL_TRACES_EXPORTER`,
 * other than `none`) or an OTLP endpoint does; `OTEL_SDK_DISABLED=true` wins over both.
 */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = listFrom(env.OTEL_TRACES_EXPORTER);
  if (exporters.length > 0) return exporters.some((e) => e !== 'none');
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Starts the OpenTelemetry SDK for traces when the environment asks for them, else does nothing:
 * the SDK is not even loaded, so a service without OTEL_* variables runs with the API's no-op
 * tracer and no context manager (nothing measurable per connection).
 *
 * The SDK reads the rest of its configuration from the same variables (exporter and protocol,
 * endpoint, headers, sampler, batch delays, resource attributes). Only traces go through it:
 * metrics are prom-client's `/metrics` and logs are pino's, so its metric and log pipelines are
 * left empty instead of defaulting to OTLP.
 */
export async function startTracing(serviceName: string, env: NodeJS.ProcessEnv, logger: Logger): Promise<Tracing | undefined> {
  if (!tracingRequested(env)) return undefined;
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({
    // OTEL_SERVICE_NAME, when set, names the service (the SDK's environment detector reads it)
    ...(env.OTEL_SERVICE_NAME ? {} : { serviceName }),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
    contextManager: new SynchronousContextManager(),
  });
  sdk.start();
  logger.info(
    {
      serviceName: env.OTEL_SERVICE_NAME ?? serviceName,
      exporter: env.OTEL_TRACES_EXPORTER ?? 'otlp',
      endpoint: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT,
      protocol: env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf',
    },
    'tracing on',
  );
  return {
    async shutdown() {
      // a collector that is down must not hold up a stop
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 3_000)));
      const done = sdk.shutdown().then(
        () => 'ok' as const,
        (err: unknown) => {
          logger.warn({ err }, 'trace export on shutdown failed');
          return 'failed' as const;
        },
      );
      if ((await Promise.race([done, timeout])) === 'timeout') logger.warn('trace export on shutdown timed out after 3 s');
      clearTimeout(timer);
    },
  };
}
