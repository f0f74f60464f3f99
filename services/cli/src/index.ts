export { findLocalGateway, type LocalGateway } from './local.ts';
