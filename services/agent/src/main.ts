import { readFileSync } from 'node:fs';
import { runMain } from '@sluice/runtime';
import { createAgent, agentConnectOptions, parseAgentConfig, withCredentialsBesideConfig, type Agent } from '@sluice/agent';

const path = process.env.AGENT_CONFIG;
const text = process.env.AGENT_CONFIG_JSON ?? (path ? readFileSync(path, 'utf8') : undefined);
if (!text) throw new Error('set AGENT_CONFIG (a YAML file) or AGENT_CONFIG_JSON');
const config = withCredentialsBesideConfig(parseAgentConfig(text, path ?? 'AGENT_CONFIG_JSON'), path);

await runMain(
  'agent',
  // the NATS URL comes from NATS_URL for the process; the config's is for the CLI
  ({ nc, controlNc, logger, metrics, tracer }) => createAgent(config, { nc, controlNc, logger, metrics, tracer }),
  (s) => ({ agentId: (s as Agent).agentId }),
  // the agent's own credentials (and the inbox prefix they allow) win over NATS_CREDS
  { nats: agentConnectOptions(config) },
);
