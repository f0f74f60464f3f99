export { createKubeAgent, type KubeAgent, type KubeAgentDeps, type KubeAgentSnapshot, type TunnelAgent } from './kube-agent.ts';
export { parseKubeAgentConfig, KubeAgentConfigSchema, type KubeAgentConfig, type KubeAgentConfigInput } from './config.ts';
export { planClaims, refusalIssues, inScope, hostProblem, IssueReasons, type ClaimPlan, type Issue, type IssueReason, type AgentRule } from './claims.ts';
export { createKubeApi, type KubeApi, type KubeEvent, type ClusterIssuerObject } from './kube-api.ts';
export { desiredClusterIssuer, ensureClusterIssuer, specHash, ACME_SERVERS, MANAGED_BY_ANNOTATION, SPEC_HASH_ANNOTATION, type IssuerName } from './cluster-issuers.ts';
export { toIngressView, toIngressClassView, type IngressView, type IngressClassView } from './ingress-view.ts';
export { createResourceInformer, loadKubeConnection, kubeConnection, endpointFromKubeconfig, inClusterEndpoint, KubeRequestError, KubeConfigError, Backoff, type ResourceInformer, type InformerStats, type ListPage, type KubeConnection } from '@sluice/kube';
