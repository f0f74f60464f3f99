import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { runMain } from '@sluice/runtime';
import { InvalidConfigError } from '@sluice/contracts';
import { parseKubeAgentConfig } from './config.ts';
import { createKubeAgent, type KubeAgent } from './kube-agent.ts';
import { loadKubeConnection } from './kube-connection.ts';

await runMain(
  'k8s-agent',
  async ({ nc, controlNc, logger, metrics, tracer, env }) => {
    const path = env.K8S_AGENT_CONFIG;
    const source = path ?? (env.K8S_AGENT_CONFIG_JSON ? 'K8S_AGENT_CONFIG_JSON' : 'environment');
    const text = env.K8S_AGENT_CONFIG_JSON ?? (path ? readFileSync(path, 'utf8') : '{}');
    let raw: unknown;
    try {
      raw = parseYaml(text) ?? {};
    } catch (err) {
      throw new InvalidConfigError(`${source}: not valid YAML/JSON`, { cause: err });
    }
    // the token comes from a Secret (SLUICE_AGENT_TOKEN), the rest from a ConfigMap
    const config = parseKubeAgentConfig({ ...(raw as object), ...(env.SLUICE_AGENT_TOKEN ? { token: env.SLUICE_AGENT_TOKEN } : {}) }, source);
    // KUBECONFIG, ~/.kube/config, or the pod's service account
    const kube = await loadKubeConnection(env);
    return createKubeAgent(config, { nc, controlNc, logger, tracer, kube, metrics });
  },
  (s) => ({ agentId: (s as KubeAgent).agentId, tunnelAddress: (s as KubeAgent).tunnelAddress }),
);
