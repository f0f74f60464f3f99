export { createTrust, trustToJson, trustFromJson, APP_ACCOUNT_NAME, SYSTEM_ACCOUNT_NAME, type Trust, type TrustKey } from './trust.ts';
export { writeTrustFile, readTrustFile } from './trust-file.ts';
export { natsServerAuthConfig, type ServerAuthConfigOptions } from './server-config.ts';
export { issueServiceCreds, issueSystemCreds, issueAgentCreds, type IssuedCreds } from './creds.ts';
export { accountJwtWithRevocations, pushAccountJwt } from './revocation.ts';
export { InvalidTrustError, ClaimsUpdateError } from './errors.ts';
