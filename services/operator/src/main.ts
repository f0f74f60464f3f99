import { readFileSync } from 'node:fs';
import { runMain } from '@sluice/runtime';
import { loadKubeConnection } from '@sluice/kube';
import { parseOperatorConfig } from './config.ts';
import { createOperator, type Operator } from './operator.ts';

const env = process.env;
const path = env.OPERATOR_CONFIG;
const text = env.OPERATOR_CONFIG_JSON ?? (path ? readFileSync(path, 'utf8') : undefined);
if (!text) throw new Error('set OPERATOR_CONFIG (a YAML file) or OPERATOR_CONFIG_JSON');
const config = parseOperatorConfig(text, path ?? 'OPERATOR_CONFIG_JSON');

await runMain(
  'operator',
  async ({ nc, logger, metrics, tracer }) => {
    // KUBECONFIG, ~/.kube/config, or the pod's service account
    const kube = await loadKubeConnection(env);
    return createOperator(config, { kube, nc, logger, metrics, tracer });
  },
  (s) => ({ apiPorts: (s as Operator).apiPorts() }),
);
