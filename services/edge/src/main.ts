import { runMain, intEnv } from '@sluice/runtime';
import { isIPv4, isIPv6 } from 'node:net';
import { InvalidConfigError } from '@sluice/contracts';
import { createEdge, type Edge } from '@sluice/edge';

/** `EDGE_PUBLIC_IPV4=203.0.113.7,203.0.113.8`: checked here, so a typo stops the edge with a clear error. */
function addressList(env: NodeJS.ProcessEnv, key: string, ok: (s: string) => boolean): string[] {
  const list = (env[key] ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const a of list) if (!ok(a)) throw new InvalidConfigError(`${key}: "${a}" is not an ${key.endsWith('6') ? 'IPv6' : 'IPv4'} address`);
  return list;
}

await runMain(
  'edge',
  ({ nc, controlNc, logger, metrics, tracer, env }) =>
    createEdge(
      {
        ...(env.EDGE_ID ? { edgeId: env.EDGE_ID } : {}),
        host: env.EDGE_HOST ?? '127.0.0.1',
        httpPort: intEnv(env, 'EDGE_HTTP_PORT', 8080),
        tlsPort: intEnv(env, 'EDGE_TLS_PORT', 8443),
        graceMs: intEnv(env, 'EDGE_GRACE_MS', 10_000),
        maxConnsPerClient: intEnv(env, 'EDGE_MAX_CONNS_PER_CLIENT', 1_000),
        headTimeoutMs: intEnv(env, 'EDGE_HEAD_TIMEOUT_MS', 10_000),
        resumeGraceMs: intEnv(env, 'EDGE_RESUME_GRACE_MS', 5_000),
        ...(env.EDGE_REGION ? { region: env.EDGE_REGION } : {}),
        publicAddresses: { ipv4: addressList(env, 'EDGE_PUBLIC_IPV4', isIPv4), ipv6: addressList(env, 'EDGE_PUBLIC_IPV6', isIPv6) },
        addressReportMs: intEnv(env, 'EDGE_ADDRESS_REPORT_MS', 60_000),
      },
      { nc, controlNc, logger, metrics, tracer },
    ),
  (s) => ({ ...(s as Edge).address(), edgeId: (s as Edge).edgeId }),
);
