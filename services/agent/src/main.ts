import { readFileSync } from 'node:fs';
import { runMain } from '@sluice/runtime';
import { createAgent, type Agent } from './agent.ts';
import { parseAgentConfig } from './config.ts';

await runMain(
  'agent',
  ({ nc, controlNc, logger, metrics, tracer, env }) => {
    const path = env.AGENT_CONFIG;
    const text = env.AGENT_CONFIG_JSON ?? (path ? readFileSync(path, 'utf8') : undefined);
    if (!text) throw new Error('set AGENT_CONFIG (a YAML file) or AGENT_CONFIG_JSON');
    // the NATS URL comes from NATS_URL for the process; the config's is for the CLI
    return createAgent(parseAgentConfig(text, path ?? 'AGENT_CONFIG_JSON'), { nc, controlNc, logger, metrics, tracer });
  },
  (s) => ({ agentId: (s as Agent).agentId }),
);
