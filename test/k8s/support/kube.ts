import { kubeConnection, type KubeConnection } from '@sluice/k8s-agent';
import { createLogger, type Logger } from '@sluice/telemetry';
import type { FakeKubeApi } from './fake-kube-api.ts';

/** A connection to the fake API server (plain HTTP, allowed only with skip-TLS-verify, as in client-node). */
export function kubeConfigFor(api: FakeKubeApi): KubeConnection {
  return kubeConnection({ server: api.url, skipTLSVerify: true, token: 'fake-token' });
}

export function testLogger(name = 'k8s-test'): Logger {
  return createLogger(name, process.env.SLUICE_TEST_LOG_LEVEL ?? 'silent');
}

/** Polls `probe` until it returns a truthy value (returned) or `timeoutMs` passes (throws, naming `what`). */
export async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
