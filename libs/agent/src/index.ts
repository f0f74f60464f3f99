export { createAgent, RegistrationRefusedError, type Agent, type AgentDeps } from './agent.ts';
export { groupClaimSources, SOURCES_BUDGET_BYTES, type ClaimSource, type ClaimSourceMap } from './claim-sources.ts';
export { AGENT_VERSION } from './version.ts';
export { parseAgentConfig, agentConnectOptions, withCredentialsBesideConfig, compileRules, matchRule, AgentConfigSchema, type AgentConfig, type IngressRule } from './config.ts';
export { RollingBytes } from './rolling-bytes.ts';
