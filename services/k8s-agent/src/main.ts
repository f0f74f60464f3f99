import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { runMain } from '@sluice/runtime';
import { InvalidConfigError } from '@sluice/contracts';
import { agentConnectOptions } from '@sluice/agent';
import { parseKubeAgentConfig } from './config.ts';
import { createKubeAgent, type KubeAgent } from './kube-agent.ts';
import { loadKubeConnection } from '@sluice/kube';

const env = process.env;
const path = env.K8S_AGENT_CONFIG;
const source = path ?? (env.K8S_AGENT_CONFIG_JSON ? 'K8S_AGENT_CONFIG_JSON' : 'environment');
const text = env.K8S_AGENT_CONFIG_JSON ?? (path ? readFileSync(path, 'utf8') : '{}');
let raw: unknown;
try {
  raw = parseYaml(text) ?? {};
} catch (err) {
  throw new InvalidConfigError(`${source}: not valid YAML/JSON`, { cause: err });
}
// the token, agent id and NATS credentials come from a Secret (SLUICE_AGENT_*), the rest from a ConfigMap
const credsFile = env.SLUICE_AGENT_CREDS && existsSync(env.SLUICE_AGENT_CREDS) ? env.SLUICE_AGENT_CREDS : undefined;
const config = parseKubeAgentConfig(
  {
    ...(raw as object),
    ...(env.SLUICE_AGENT_TOKEN ? { token: env.SLUICE_AGENT_TOKEN } : {}),
    ...(env.SLUICE_AGENT_ID ? { agentId: env.SLUICE_AGENT_ID } : {}),
    ...(credsFile ? { credentials: credsFile } : {}),
  },
  source,
);
if (config.credentials !== undefined && config.agentId === undefined) {
  throw new InvalidConfigError(`${source}: NATS credentials need the agent id they were issued for (SLUICE_AGENT_ID or agentId)`);
}

await runMain(
  'k8s-agent',
  async ({ nc, controlNc, logger, metrics, tracer }) => {
    // KUBECONFIG, ~/.kube/config, or the pod's service account
    const kube = await loadKubeConnection(env);
    return createKubeAgent(config, { nc, controlNc, logger, tracer, kube, metrics });
  },
  (s) => ({ agentId: (s as KubeAgent).agentId, tunnelAddress: (s as KubeAgent).tunnelAddress }),
  // its own credentials (and the inbox prefix they allow) win over NATS_CREDS
  { nats: agentConnectOptions(config) },
);
