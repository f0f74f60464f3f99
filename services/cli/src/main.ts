import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { connectNats } from '@sluice/nats';
import { createLogger } from '@sluice/telemetry';
import { SluiceError } from '@sluice/contracts';
import { agentConnectOptions, createAgent, parseAgentConfig, withCredentialsBesideConfig, type AgentConfig } from '@sluice/agent';
import { findLocalGateway } from './local.ts';
import { adminUsage, runAdminCommand } from './admin-commands.ts';
import { devUsage, runDevCommand } from './dev-commands.ts';
import { gatewayUsage, runGatewayCommand } from './gateway-commands.ts';

const usage = `usage:
  sluice http PORT [--nats URL] [--token T] [--transport core|jetstream] [--host H]
      expose 127.0.0.1:PORT (or H:PORT) on a generated hostname and print its URL
  sluice tls PORT [...]   the same for a TLS server (passthrough by SNI)
  sluice agent --config agent.yaml
      serve the hostnames and upstreams of an agent config (ingress rules)
${adminUsage}
${devUsage}
${gatewayUsage}
Defaults come from .sluice/local.json (written by \`npm run up\`), else nats://127.0.0.1:4222.`;

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'dev') {
    const interrupted = new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    return runDevCommand(argv.slice(1), { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t), env: process.env, local: findLocalGateway(), interrupted });
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      nats: { type: 'string' },
      token: { type: 'string' },
      transport: { type: 'string' },
      host: { type: 'string' },
      config: { type: 'string', short: 'c' },
      'log-level': { type: 'string' },
      json: { type: 'boolean' },
      region: { type: 'string' },
      api: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [cmd, arg] = positionals;
  if (values.help || !cmd) {
    process.stdout.write(usage + '\n');
    return cmd || values.help ? 0 : 2;
  }
  if (cmd === 'gateway') {
    return runGatewayCommand(positionals.slice(1), values, { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) });
  }
  const local = findLocalGateway();
  if (['login', 'agents', 'domains', 'users'].includes(cmd)) {
    return runAdminCommand(cmd, positionals.slice(1), values, {
      out: (t) => process.stdout.write(t),
      err: (t) => process.stderr.write(t),
      env: process.env,
      local,
    });
  }
  const natsUrl = values.nats ?? process.env.SLUICE_NATS_URL ?? local?.natsUrl ?? 'nats://127.0.0.1:4222';
  let config: AgentConfig;
  if (cmd === 'http' || cmd === 'tls') {
    if (local?.auth && !values.nats) {
      // operator mode: no anonymous connection is accepted, quick tunnels included
      process.stderr.write(
        'sluice: this gateway runs with per-agent NATS credentials (npm run up -- --auth): create an agent with\n' +
          '  npx sluice agents create NAME   (after `npx sluice login --token <admin token>`)\n' +
          'and run `npx sluice agent --config agent.yaml` with the agentId, token and credentials it prints\n',
      );
      return 2;
    }
    const port = Number(arg);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      process.stderr.write(`sluice ${cmd}: expected a port number 1-65535, got "${arg ?? ''}"\n`);
      return 2;
    }
    const host = values.host ?? '127.0.0.1';
    config = parseAgentConfig({
      nats: natsUrl,
      ...(values.token ? { token: values.token } : {}),
      transport: values.transport ?? 'jetstream',
      generate: true,
      releaseOnStop: true,
      graceMs: 2_000,
      ingress: [{ service: `${cmd}://${host.includes(':') ? `[${host}]` : host}:${port}` }],
    }, 'command line');
  } else if (cmd === 'agent') {
    if (!values.config) {
      process.stderr.write('sluice agent: --config FILE is required\n');
      return 2;
    }
    config = withCredentialsBesideConfig(parseAgentConfig(readFileSync(values.config, 'utf8'), values.config), values.config);
  } else {
    process.stderr.write(`sluice: unknown command "${cmd}"\n${usage}\n`);
    return 2;
  }
  const logger = createLogger('cli', values['log-level'] ?? process.env.LOG_LEVEL ?? 'warn');
  // an agent with its own credentials connects with them (and the inbox prefix they allow)
  const auth = { ...(process.env.NATS_TOKEN ? { token: process.env.NATS_TOKEN } : {}), ...agentConnectOptions(config) };
  const nc = await connectNats({ servers: config.nats, name: 'sluice-cli', ...auth }, logger);
  const controlNc = await connectNats({ servers: config.nats, name: 'sluice-cli-control', ...auth }, logger);
  const agent = createAgent(config, { nc, controlNc, logger });
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await agent.stop();
    await nc.drain();
    await controlNc.drain();
    process.exit(0);
  };
  // the server can end the connection for good (credentials revoked or refused): say so and exit
  for (const c of [nc, controlNc]) {
    void c.closed().then((err) => {
      if (stopping) return;
      process.stderr.write(`sluice: the gateway closed the connection${err ? `: ${err.message}` : ''} (credentials revoked or refused?)\n`);
      process.exit(1);
    });
  }
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  const reply = await agent.start();
  for (const r of reply.refused) process.stderr.write(`refused: ${r.hostname}: ${r.reason}\n`);
  if (cmd === 'tls') {
    const tlsPort = local?.tlsPort ?? 443;
    for (const h of reply.accepted) if (!h.startsWith('*.')) process.stdout.write(`https://${h}${tlsPort === 443 ? '' : `:${tlsPort}`}/\n`);
  } else {
    for (const u of reply.urls) process.stdout.write(`${u}\n`);
  }
  process.stderr.write(`agent ${agent.agentId} connected (${config.transport}); Ctrl-C to stop\n`);
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    const e = err as Error;
    process.stderr.write(`sluice: ${e instanceof SluiceError ? `${e.code}: ` : ''}${e.message}\n`);
    process.exit(1);
  },
);
