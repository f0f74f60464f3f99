export { createDdns, type Ddns, type DdnsDeps } from './ddns.ts';
export { parseDdnsConfig, DdnsConfigSchema, type DdnsConfig } from './config.ts';
export { ensureDnsStream } from './feed.ts';
export { signRequest, type TsigKey } from './wire/tsig.ts';
export { wireName } from './wire/name.ts';
