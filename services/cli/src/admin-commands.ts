import { ApiClient, ApiError, readLogin, writeLogin } from './api-client.ts';
import type { LocalGateway } from './local.ts';

export interface CommandIo {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
  local: LocalGateway | undefined;
}

interface Flags {
  json?: boolean | undefined;
  region?: string | undefined;
  api?: string | undefined;
  token?: string | undefined;
}

interface AgentOut {
  name: string; region: string; hostname: string; ddnsHostname: string; online?: boolean; lastSeen?: string;
  accepted: string[]; refused: Array<{ hostname: string; reason: string }>; registeredAt?: string;
}
interface Credentials { agentId: string; token: string; natsUrl?: string; natsCreds?: string }
interface AgentCreated { name: string; region: string; hostname: string; ddnsHostname: string; credentials: Credentials }
interface DomainOut { domain: string; state: string; record: { type: string; name: string; value: string }; alternatives: Array<{ type: string; name: string; value: string }>; missing: string[]; method?: string; verifiedAt?: string }

export const adminUsage = `  sluice login [--api URL] [--token T]      check an API token and store it (~/.config/sluice/config.json)
  sluice agents create NAME [--region R]      register an agent; prints its credentials once
  sluice agents list | status NAME | rotate NAME | delete NAME
  sluice domains add DOMAIN | verify DOMAIN | list | remove DOMAIN
  sluice users create NAME                    (admins) create a user; prints its API token once
  Every command takes --json; the API comes from --api, SLUICE_API, \`sluice login\` or \`npm run up\`.`;

function client(flags: Flags, io: CommandIo): ApiClient {
  const stored = readLogin(io.env);
  const api = flags.api ?? io.env.SLUICE_API ?? stored?.api ?? io.local?.apiUrl ?? 'http://127.0.0.1:8081';
  const token = flags.token ?? io.env.SLUICE_TOKEN ?? stored?.token;
  if (!token) throw new ApiError('SLUICE_NOT_LOGGED_IN', 'no API token: run `sluice login --token <token>` or set SLUICE_TOKEN', 401);
  return new ApiClient(api, token);
}

const printJson = (io: CommandIo, v: unknown): void => io.out(JSON.stringify(v, null, 2) + '\n');

function printCredentials(io: CommandIo, c: AgentCreated): void {
  io.out(`agent ${c.name} (${c.region})\n  tunnel address: ${c.hostname}\n  DDNS address:   ${c.ddnsHostname}\n`);
  io.out(`credentials (shown once; keep them secret):\n  agent id: ${c.credentials.agentId}\n  token:    ${c.credentials.token}\n`);
  if (c.credentials.natsCreds) io.out(`NATS credentials (save as ${c.name}.creds, mode 0600):\n${c.credentials.natsCreds}\n`);
  io.out(`agent.yaml:\n  nats: ${c.credentials.natsUrl ?? '<nats url>'}\n  token: ${c.credentials.token}\n${c.credentials.natsCreds ? `  agentId: ${c.credentials.agentId}\n  credentials: ./${c.name}.creds\n` : ''}  generate: true\n  ingress:\n    - service: http://127.0.0.1:8080\n`);
}

function printDomain(io: CommandIo, d: DomainOut): void {
  io.out(`${d.domain}: ${d.state}${d.method ? ` (proved by ${d.method.toUpperCase()})` : ''}\n`);
  if (d.state !== 'verified') {
    io.out(`  create this record:\n    ${d.record.name}. TXT "${d.record.value}"\n`);
    if (d.alternatives.length > 0) io.out(`  or a CNAME:\n${d.alternatives.map((a) => `    ${a.name}. CNAME ${a.value}.\n`).join('')}`);
    for (const m of d.missing) io.out(`  missing: ${m}\n`);
  }
}

/** `sluice login|agents|domains|users …`; returns the exit code. */
export async function runAdminCommand(cmd: string, args: string[], flags: Flags, io: CommandIo): Promise<number> {
  const [sub, name] = args;
  const need = (what: string): string => {
    if (!name) throw new ApiError('SLUICE_USAGE', `sluice ${cmd} ${sub ?? ''}: ${what} is required`, 2);
    return name;
  };
  if (cmd === 'login') {
    const api = flags.api ?? io.env.SLUICE_API ?? io.local?.apiUrl ?? 'http://127.0.0.1:8081';
    const token = flags.token ?? io.env.SLUICE_TOKEN;
    if (!token) throw new ApiError('SLUICE_USAGE', 'sluice login: --token (or SLUICE_TOKEN) is required', 2);
    const me = await new ApiClient(api, token).call<{ name: string; admin: boolean }>('GET', '/v1/me');
    const path = writeLogin({ api, token, user: me.name }, io.env);
    if (flags.json) printJson(io, { user: me.name, api, stored: path });
    else io.out(`logged in to ${api} as ${me.name}; token stored in ${path}\n`);
    return 0;
  }
  const c = client(flags, io);
  const q = flags.region ? `?region=${encodeURIComponent(flags.region)}` : '';
  if (cmd === 'agents') {
    if (sub === 'create') {
      const r = await c.call<AgentCreated>('POST', '/v1/agents', { name: need('NAME'), ...(flags.region ? { region: flags.region } : {}) });
      if (flags.json) printJson(io, { name: r.name, hostname: r.hostname, ddnsHostname: r.ddnsHostname, credentials: r.credentials });
      else printCredentials(io, r);
      return 0;
    }
    if (sub === 'rotate') {
      const r = await c.call<AgentCreated>('POST', `/v1/agents/${encodeURIComponent(need('NAME'))}/credentials${q}`);
      if (flags.json) printJson(io, { name: r.name, hostname: r.hostname, ddnsHostname: r.ddnsHostname, credentials: r.credentials });
      else printCredentials(io, r);
      return 0;
    }
    if (sub === 'list' || sub === undefined) {
      const r = await c.call<AgentOut[]>('GET', '/v1/agents');
      if (flags.json) printJson(io, r);
      else for (const a of r) io.out(`${a.name}\t${a.region}\t${a.online ? 'online' : 'offline'}\t${a.hostname}\t${a.accepted.length} routed, ${a.refused.length} refused\n`);
      return 0;
    }
    if (sub === 'status') {
      const a = await c.call<AgentOut>('GET', `/v1/agents/${encodeURIComponent(need('NAME'))}${q}`);
      if (flags.json) printJson(io, a);
      else {
        io.out(`${a.name} (${a.region}): ${a.online ? 'online' : 'offline'}${a.lastSeen ? `, last seen ${a.lastSeen}` : ''}\n  tunnel address: ${a.hostname}\n  DDNS address:   ${a.ddnsHostname}\n`);
        for (const h of a.accepted) io.out(`  routed:  ${h}\n`);
        for (const r of a.refused) io.out(`  refused: ${r.hostname}: ${r.reason}\n`);
      }
      return 0;
    }
    if (sub === 'delete') {
      await c.call('DELETE', `/v1/agents/${encodeURIComponent(need('NAME'))}${q}`);
      if (flags.json) printJson(io, { name, deleted: true });
      else io.out(`agent ${name} deleted; its credentials are revoked\n`);
      return 0;
    }
  }
  if (cmd === 'domains') {
    if (sub === 'add') {
      const d = await c.call<DomainOut>('POST', '/v1/domains', { domain: need('DOMAIN') });
      if (flags.json) printJson(io, { domain: d.domain, state: d.state, record: d.record, alternatives: d.alternatives });
      else printDomain(io, d);
      return 0;
    }
    if (sub === 'verify') {
      const d = await c.call<DomainOut>('POST', `/v1/domains/${encodeURIComponent(need('DOMAIN'))}/verify`);
      if (flags.json) printJson(io, { domain: d.domain, state: d.state, missing: d.missing, ...(d.method ? { method: d.method } : {}) });
      else printDomain(io, d);
      return d.state === 'verified' ? 0 : 1;
    }
    if (sub === 'list' || sub === undefined) {
      const r = await c.call<DomainOut[]>('GET', '/v1/domains');
      if (flags.json) printJson(io, r);
      else for (const d of r) printDomain(io, d);
      return 0;
    }
    if (sub === 'remove') {
      await c.call('DELETE', `/v1/domains/${encodeURIComponent(need('DOMAIN'))}`);
      if (flags.json) printJson(io, { domain: name, removed: true });
      else io.out(`${name} removed\n`);
      return 0;
    }
  }
  if (cmd === 'users' && sub === 'create') {
    const u = await c.call<{ name: string; token: string }>('POST', '/v1/users', { name: need('NAME') });
    if (flags.json) printJson(io, u);
    else io.out(`user ${u.name} created; API token (shown once): ${u.token}\n`);
    return 0;
  }
  io.err(`sluice ${cmd}: unknown subcommand "${sub ?? ''}"\n${adminUsage}\n`);
  return 2;
}
