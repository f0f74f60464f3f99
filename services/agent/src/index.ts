export { createAgent, RegistrationRefusedError, type Agent, type AgentDeps } from './agent.ts';
export { parseAgentConfig, agentConnectOptions, withCredentialsBesideConfig, compileRules, matchRule, AgentConfigSchema, type AgentConfig, type IngressRule } from './config.ts';
