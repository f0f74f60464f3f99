// `npm run up`: the whole gateway on this machine — nats-server (JetStream), registry, router,
// edge, ddns (DNS for the local zones), a demo upstream and one agent for demo.sluice.localhost —
// then the URLs to try.
import { existsSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startNats, spawnService, freePort, repoRoot, type ServiceProcess } from '@sluice/testing';
import { demoCertPaths } from '@sluice/demo';

const { values } = parseArgs({
  options: {
    'http-port': { type: 'string', default: '8080' },
    'tls-port': { type: 'string', default: '8443' },
    'nats-port': { type: 'string', default: '4222' },
    'dns-port': { type: 'string', default: '5353' },
    'api-port': { type: 'string', default: '8081' },
    transport: { type: 'string', default: 'jetstream' },
    // NATS in operator mode: every service on its own credentials, every agent on credentials
    // limited to its own subjects (issued by the registry), revocation on delete/rotate
    auth: { type: 'boolean', default: false },
  },
});
const httpPort = Number(values['http-port']);
const tlsPort = Number(values['tls-port']);
const dnsPort = Number(values['dns-port']);
const apiPort = Number(values['api-port']);
const zone = 'sluice.localhost';
const dynZone = `dyn.${zone}`;
const stateDir = join(repoRoot, '.sluice');
mkdirSync(stateDir, { recursive: true });

const procs: ServiceProcess[] = [];
let stopping = false;
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    process.stderr.write('\n[sluice] stopping…\n');
    for (const p of [...procs].reverse()) await p.stop(15_000).catch(() => undefined);
    await nats?.stop().catch(() => undefined);
    rmSync(join(stateDir, 'local.json'), { force: true });
    process.stderr.write('[sluice] stopped\n');
  }
  process.exit(code);
}
process.once('SIGINT', () => void shutdown(0));
process.once('SIGTERM', () => void shutdown(0));

let nats: Awaited<ReturnType<typeof startNats>> | undefined;
try {
  const natsPortWanted = Number(values['nats-port']);
  const auth = values.auth ? await localAuth(join(stateDir, 'auth')) : undefined;
  const natsOpts = { storeDir: join(stateDir, auth ? 'jetstream-auth' : 'jetstream'), ...(auth ? { extraConfig: auth.serverConfig, local: true } : {}) };
  nats = await startNats({ port: natsPortWanted, ...natsOpts }).catch(async () => {
    process.stderr.write(`[sluice] port ${natsPortWanted} is taken; using another for nats-server\n`);
    return startNats({ port: await freePort(), ...natsOpts });
  });
  const creds = (name: string): Record<string, string> => (auth ? { NATS_CREDS: auth.services[name]! } : {});
  const demoToken = 'demo-agent-token-for-local-use-only';
  const demo = await spawnService('demo', 'services/demo/src/main.ts', { DEMO_HTTP_PORT: '0', DEMO_HTTPS_PORT: '0' });
  procs.push(demo);
  const registry = await spawnService('registry', 'services/registry/src/main.ts', {
      NATS_URL: nats.url,
      ...creds('registry'),
      ...(auth ? { REGISTRY_TRUST_FILE: auth.trustFile, NATS_SYSTEM_CREDS: auth.systemCreds } : {}),
      REGISTRY_CONFIG_JSON: JSON.stringify({
        zone,
        region: 'local',
        anonymousUser: 'dev',
        publicHttpPort: httpPort,
        publicTlsPort: tlsPort,
        ddnsZone: dynZone,
        agentNatsUrl: nats.url,
        api: { port: apiPort, host: '127.0.0.1' },
        agents: [{ id: 'demo', user: 'dev', token: demoToken, hostnames: [`demo.${zone}`, `*.demo.${zone}`] }],
      }),
  });
  procs.push(registry);
  const apiUrl = `http://127.0.0.1:${String(registry.ready.apiPort)}`;
  procs.push(await spawnService('router', 'services/router/src/main.ts', { NATS_URL: nats.url, ...creds('router') }));
  const edge = await spawnService('edge', 'services/edge/src/main.ts', {
    NATS_URL: nats.url,
    ...creds('edge'),
    EDGE_HTTP_PORT: String(httpPort),
    EDGE_TLS_PORT: String(tlsPort),
    // announced to ddns (sluice.dns.edge.<id>.address): the tunnel zone answers it
    EDGE_PUBLIC_IPV4: '127.0.0.1',
    OPS_PORT: '0',
  });
  procs.push(edge);
  // authoritative DNS (UDP and TCP) for the tunnel zone (every name: the edge) and the dyn zone
  // (each agent's public address, under the names the registry routed to it)
  procs.push(
    await spawnService('ddns', 'services/ddns/src/main.ts', {
      NATS_URL: nats.url,
      ...creds('ddns'),
      DDNS_CONFIG_JSON: JSON.stringify({
        tunnelZone: zone,
        dynZone,
        host: '127.0.0.1',
        port: dnsPort,
        nameservers: [{ name: `ns1.${zone}`, ipv4: ['127.0.0.1'] }],
      }),
    }),
  );
  procs.push(
    await spawnService('agent', 'services/agent/src/main.ts', {
      NATS_URL: nats.url,
      AGENT_CONFIG_JSON: JSON.stringify({
        nats: nats.url,
        token: demoToken,
        agentId: 'demo',
        // with --auth: credentials issued for agent id `demo`, limited to its own subjects
        ...(auth ? { credentials: auth.demoAgentCreds } : {}),
        transport: values.transport,
        ingress: [
          { hostname: `demo.${zone}`, service: `http://127.0.0.1:${String(demo.ready.http)}` },
          { hostname: `*.demo.${zone}`, service: `http://127.0.0.1:${String(demo.ready.http)}` },
          { hostname: `demo.${zone}`, service: `tls://127.0.0.1:${String(demo.ready.https)}` },
        ],
      }),
    }),
  );
  writeFileSync(join(stateDir, 'local.json'), JSON.stringify({ natsUrl: nats.url, httpPort, tlsPort, zone, apiUrl, auth: auth !== undefined }, null, 2));
  const ca = demoCertPaths.ca;
  process.stdout.write(
    [
      '',
      'Sluice is up. Try:',
      `  curl http://demo.${zone}:${httpPort}/`,
      `  curl --http2 --resolve demo.${zone}:${tlsPort}:127.0.0.1 --cacert ${ca} https://demo.${zone}:${tlsPort}/`,
      auth
        ? '  (--auth: NATS in operator mode; agents need credentials: `npx sluice agents create NAME` prints them)'
        : `  npx sluice http 3000        # expose a local port on a generated hostname`,
      `  dig @127.0.0.1 -p ${dnsPort} demo.${zone} A +short       # the edge's address`,
      `  dig @127.0.0.1 -p ${dnsPort} demo.${dynZone} A +short   # the demo agent's public address`,
      '',
      `  registry API: ${apiUrl}  (OpenAPI: ${apiUrl}/openapi.json, docs: ${apiUrl}/docs)`,
      `  dashboard:    ${apiUrl}/  (sign in with the admin token)`,
      typeof registry.ready.bootstrapToken === 'string'
        ? `  admin token (shown once, stored hashed): ${registry.ready.bootstrapToken}\n    npx sluice login --token ${registry.ready.bootstrapToken}`
        : '  admin token: printed on the first start (state is in .sluice/jetstream)',
      `  npx sluice agents create mycluster --region local   # after login: credentials for a new agent`,
      `  nats:    ${nats.url}`,
      `  metrics: http://127.0.0.1:${String(edge.ready.opsPort)}/metrics (edge)`,
      '  Ctrl-C stops everything.',
      '',
    ].join('\n') + '\n',
  );
} catch (err) {
  process.stderr.write(`[sluice] failed to start: ${(err as Error).message}\n`);
  await shutdown(1);
}

/**
 * `--auth`: the operator, system and SLUICE account keys (kept in .sluice/auth/trust.json, 0600,
 * reused on the next start), the nats-server operator-mode block, a .creds file per service and
 * one for the demo agent.
 */
async function localAuth(dir: string): Promise<{ serverConfig: string; trustFile: string; systemCreds: string; services: Record<string, string>; demoAgentCreds: string }> {
  const { createTrust, readTrustFile, writeTrustFile, natsServerAuthConfig, issueServiceCreds, issueSystemCreds, issueAgentCreds } = await import('@sluice/auth');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const trustFile = join(dir, 'trust.json');
  const trust = existsSync(trustFile) ? await readTrustFile(trustFile) : await createTrust();
  if (!existsSync(trustFile)) await writeTrustFile(trustFile, trust);
  const write = (name: string, text: string): string => {
    const p = join(dir, `${name}.creds`);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  const services: Record<string, string> = {};
  for (const name of ['registry', 'router', 'edge', 'ddns']) services[name] = write(name, await issueServiceCreds(trust, `sluice-${name}`));
  return {
    serverConfig: natsServerAuthConfig(trust, { resolverDir: join(dir, 'jwt') }),
    trustFile,
    systemCreds: write('system', await issueSystemCreds(trust)),
    services,
    demoAgentCreds: write('agent-demo', (await issueAgentCreds(trust, 'demo')).creds),
  };
}
