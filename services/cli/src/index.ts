export { findLocalGateway, type LocalGateway } from './local.ts';
export { writeGatewayCredentials, GATEWAY_SERVICES, DEV_MODE_SERVICES, K8S_RESOLVER_DIR, type GatewayCredentialFiles } from './gateway-commands.ts';
