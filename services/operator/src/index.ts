export { createOperator, type Operator, type OperatorDeps, type OperatorSnapshot } from './operator.ts';
export { parseOperatorConfig, tunnelHeartbeatMs, OperatorConfigSchema, type OperatorConfig } from './config.ts';
export { buildTunnelApi, TunnelApiError, type TunnelApi, type TunnelApiHandlers, type TunnelReport } from './api.ts';
export { tunnelDeployment, tunnelDeploymentName, tunnelSelector, isTunnelSelector, hashTunnelToken, TUNNEL_OPS_PORT } from './tunnel-pod.ts';
