import type { NatsConnection } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import {
  codecs,
  hostnameToKey,
  isValidRouteHostname,
  keyToHostname,
  newId,
  normalizeHostname,
  registryEventCodec,
  registryEventSubject,
  SluiceError,
  type RegistryEvent,
} from '@sluice/contracts';
import { recordCodecs, type AgentRecord, type DomainRecord, type TokenRecord, type UserRecord } from './records.ts';
import { agentIndexCodec, claimHost, hashesEqual, holdsHost, keys, newSecret, parseSecret, releaseHost, Store } from './store.ts';
import { CHALLENGE_LABEL, type DomainChecker } from './verify.ts';
import { claimedNames, groupSources, recordSources, type ClaimSource, type SourcesByHost } from './claim-sources.ts';

/** Issues and revokes the NATS credentials of agents (see @sluice/auth); absent: no NATS auth. */
export interface CredentialIssuer {
  issueAgent(agentId: string): Promise<{ creds: string; publicKey: string }>;
  revoke(publicKey: string): Promise<void>;
}

export interface AgentCredentials {
  agentId: string;
  token: string;
  natsUrl?: string;
  natsCreds?: string;
}

export interface CoreOptions {
  zone: string;
  ddnsZone: string;
  holdbackMs: number;
  /** Where agents connect (printed with their credentials). */
  natsUrl?: string;
}

export class RegistryError extends SluiceError {
  constructor(
    code: string,
    message: string,
    readonly status: number,
  ) {
    super(code, message);
  }
}

const notFound = (what: string): RegistryError => new RegistryError('SLUICE_NOT_FOUND', `${what} not found`, 404);
const conflict = (msg: string): RegistryError => new RegistryError('SLUICE_CONFLICT', msg, 409);

/** Is `name` equal to `owned` or covered by it (`*.a.b` covers `x.a.b`, `x.y.a.b` and `*.y.a.b`)? */
export function covers(owned: string, name: string): boolean {
  if (owned === name) return true;
  if (!owned.startsWith('*.')) return false;
  const suffix = owned.slice(1); // ".a.b"
  return name.endsWith(suffix) && name.length > suffix.length;
}

/** Route writes one registration keeps in flight at once. */
const ROUTE_WRITES_IN_FLIGHT = 128;

/** Runs `fn` over `items`, at most `n` at a time. */
async function inBatches<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += n) await Promise.all(items.slice(i, i + n).map(fn));
}

/** What an agent asked for at its last registration: everything it was told about, accepted or refused. */
export const requestedOf = (a: AgentRecord): string[] => a.requested ?? [...a.accepted, ...a.refused.map((r) => r.hostname)];

/** Is `name` the domain itself or any name (or wildcard) under it? */
const underDomain = (domain: string, name: string): boolean => name === domain || name.endsWith(`.${domain}`);

export interface AgentView {
  id: string;
  name: string;
  user: string;
  region: string;
  hostname: string;
  ddnsHostname: string;
  createdAt: string;
  registeredAt?: string;
  requested: string[];
  accepted: string[];
  refused: Array<{ hostname: string; reason: string }>;
  /** Where each claim (accepted or refused) came from; a name may have several sources, or none known. */
  sources: Array<{ hostname: string } & ClaimSource>;
}

export interface DomainView {
  domain: string;
  state: 'pending' | 'verified';
  record: { type: 'TXT'; name: string; value: string };
  alternatives: Array<{ type: 'CNAME'; name: string; value: string }>;
  missing: string[];
  method?: 'txt' | 'cname';
  verifiedAt?: string;
  checkedAt?: string;
}

/**
 * The registry's system of record over one JetStream KV bucket: users and their API tokens,
 * agents and their secrets, custom domains and their verification, hostname claims. Routes for
 * the router and ddns go to the routes bucket; every change is announced as an event.
 */
export class RegistryCore {
  constructor(
    readonly store: Store,
    private readonly routes: KV,
    readonly nc: NatsConnection,
    private readonly checker: DomainChecker,
    private readonly opts: CoreOptions,
    private readonly logger: Logger,
    private readonly issuer?: CredentialIssuer,
  ) {}

  emit(e: Omit<RegistryEvent, 'v' | 'ts'>): void {
    this.nc.publish(registryEventSubject(e.kind), registryEventCodec.encode({ v: 1, ts: Date.now(), ...e }));
  }

  // --- users and tokens ----------------------------------------------------------------------

  async userCount(): Promise<number> {
    let n = 0;
    for await (const _ of await this.store.kv.keys('user.>')) n++;
    return n;
  }

  async createUser(name: string, admin: boolean): Promise<{ user: UserRecord; token: string }> {
    const user: UserRecord = { v: 1, name, admin, createdAt: Date.now() };
    if (!(await this.store.create(keys.user(name), recordCodecs.user, user))) throw conflict(`user ${name} already exists`);
    const { token } = await this.createToken(name, 'initial');
    this.emit({ kind: 'user-created', user: name });
    return { user, token };
  }

  async listUsers(): Promise<UserRecord[]> {
    return this.store.list('user', recordCodecs.user);
  }

  async createToken(user: string, name: string): Promise<{ record: TokenRecord; token: string }> {
    const s = newSecret('slt');
    const record: TokenRecord = { v: 1, id: s.id, user, name, hash: s.hash, createdAt: Date.now() };
    await this.store.put(keys.token(s.id), recordCodecs.token, record);
    this.emit({ kind: 'token-created', user });
    return { record, token: s.token };
  }

  async listTokens(user: string): Promise<TokenRecord[]> {
    return (await this.store.list('token', recordCodecs.token)).filter((t) => t.user === user);
  }

  async revokeToken(user: string, id: string): Promise<void> {
    const t = await this.store.get(keys.token(id), recordCodecs.token);
    if (!t || t.value.user !== user) throw notFound(`token ${id}`);
    await this.store.delete(keys.token(id));
    this.emit({ kind: 'token-revoked', user });
  }

  /** The user an API token belongs to, or null (unknown, malformed, revoked, wrong secret). */
  async authenticate(token: string): Promise<UserRecord | null> {
    const p = parseSecret('slt', token);
    if (!p) return null;
    const t = await this.store.get(keys.token(p.id), recordCodecs.token);
    if (!t || !hashesEqual(t.value.hash, p.hash)) return null;
    return (await this.store.get(keys.user(t.value.user), recordCodecs.user))?.value ?? null;
  }

  // --- agents --------------------------------------------------------------------------------

  private addresses(name: string, user: string, region: string): { hostname: string; ddnsHostname: string } {
    return { hostname: `${name}.${user}.${region}.${this.opts.zone}`, ddnsHostname: `${name}.${user}.${region}.${this.opts.ddnsZone}` };
  }

  async createAgent(user: string, name: string, region: string): Promise<{ agent: AgentRecord; credentials: AgentCredentials }> {
    const { hostname, ddnsHostname } = this.addresses(name, user, region);
    if (!isValidRouteHostname(hostname)) throw new RegistryError('SLUICE_INVALID', `${hostname} is not a valid hostname (too long?)`, 400);
    const claim = await claimHost(this.store, hostname, user, 'agent', this.opts.holdbackMs);
    if (!claim.ok) throw conflict(claim.reason);
    // one agent per address: the index key is created atomically, so of racing creators one wins
    const id = newId(10);
    if (!(await this.store.create(keys.agentName(hostname), agentIndexCodec, { v: 1, agentId: id }))) {
      throw conflict(`agent ${name} in region ${region} already exists (${hostname})`);
    }
    const s = newSecret('sla', id);
    const nats = this.issuer ? await this.issuer.issueAgent(id) : undefined;
    const agent: AgentRecord = {
      v: 1, id, name, user, region, hostname, ddnsHostname, secretHash: s.hash,
      ...(nats ? { natsUser: nats.publicKey } : {}),
      createdAt: Date.now(), accepted: [], refused: [],
    };
    if (!(await this.store.create(keys.agent(id), recordCodecs.agent, agent))) throw conflict('agent id collision; retry');
    this.emit({ kind: 'agent-created', user, agentId: id, hostnames: [hostname] });
    this.logger.info({ user, agentId: id, hostname }, 'agent created');
    return { agent, credentials: this.credentialBundle(agent, s.token, nats?.creds) };
  }

  private credentialBundle(agent: AgentRecord, token: string, creds: string | undefined): AgentCredentials {
    return {
      agentId: agent.id,
      token,
      ...(this.opts.natsUrl ? { natsUrl: this.opts.natsUrl } : {}),
      ...(creds ? { natsCreds: creds } : {}),
    };
  }

  /** New secret and NATS credentials; the old ones stop working at once. */
  async rotateAgent(user: string, name: string, region?: string): Promise<{ agent: AgentRecord; credentials: AgentCredentials }> {
    const cur = await this.findAgent(user, name, region);
    const s = newSecret('sla', cur.value.id);
    const nats = this.issuer ? await this.issuer.issueAgent(cur.value.id) : undefined;
    const agent: AgentRecord = { ...cur.value, secretHash: s.hash, ...(nats ? { natsUser: nats.publicKey } : {}) };
    if (!(await this.store.update(keys.agent(agent.id), recordCodecs.agent, agent, cur.revision))) throw conflict('agent changed meanwhile; retry');
    if (this.issuer && cur.value.natsUser) await this.issuer.revoke(cur.value.natsUser);
    this.emit({ kind: 'agent-credentials-rotated', user, agentId: agent.id });
    return { agent, credentials: this.credentialBundle(agent, s.token, nats?.creds) };
  }

  /** Revokes the agent's credentials (disconnecting it), removes its routes and releases its address. */
  async deleteAgent(user: string, name: string, region?: string): Promise<void> {
    const cur = await this.findAgent(user, name, region);
    const a = cur.value;
    if (this.issuer && a.natsUser) await this.issuer.revoke(a.natsUser);
    await this.store.delete(keys.agent(a.id));
    await this.store.delete(keys.agentName(a.hostname));
    await this.setRoutes(a.id, []);
    await releaseHost(this.store, a.hostname, user);
    this.emit({ kind: 'agent-revoked', user, agentId: a.id, removed: a.accepted });
    this.logger.info({ user, agentId: a.id }, 'agent deleted and its credentials revoked');
  }

  async listAgents(user?: string): Promise<AgentRecord[]> {
    const all = await this.store.list('agent', recordCodecs.agent);
    return user === undefined ? all : all.filter((a) => a.user === user);
  }

  async findAgent(user: string, name: string, region?: string): Promise<{ value: AgentRecord; revision: number }> {
    const matches = (await this.listAgents(user)).filter((a) => a.name === name && (region === undefined || a.region === region));
    if (matches.length === 0) throw notFound(`agent ${name}`);
    if (matches.length > 1) throw new RegistryError('SLUICE_AMBIGUOUS', `agent ${name} exists in several regions (${matches.map((m) => m.region).join(', ')}); name one with ?region=`, 400);
    const got = await this.store.get(keys.agent(matches[0]!.id), recordCodecs.agent);
    if (!got) throw notFound(`agent ${name}`);
    return got;
  }

  /** The agent a token names (`sla_<id>_<secret>`), when the secret matches. */
  async agentByToken(token: string): Promise<AgentRecord | null> {
    const p = parseSecret('sla', token);
    if (!p) return null;
    const a = await this.store.get(keys.agent(p.id), recordCodecs.agent);
    return a && hashesEqual(a.value.secretHash, p.hash) ? a.value : null;
  }

  async agentById(id: string): Promise<AgentRecord | null> {
    return (await this.store.get(keys.agent(id), recordCodecs.agent))?.value ?? null;
  }

  view(a: AgentRecord): AgentView {
    const byHost = recordSources(a);
    return {
      id: a.id, name: a.name, user: a.user, region: a.region, hostname: a.hostname, ddnsHostname: a.ddnsHostname,
      createdAt: new Date(a.createdAt).toISOString(),
      ...(a.registeredAt ? { registeredAt: new Date(a.registeredAt).toISOString() } : {}),
      requested: requestedOf(a), accepted: a.accepted, refused: a.refused,
      sources: claimedNames(a).flatMap((hostname) => (byHost.get(hostname) ?? []).map((s) => ({ hostname, ...s }))),
    };
  }

  // --- what an agent may serve ---------------------------------------------------------------

  /** Decides each requested hostname for an API-created agent: accepted, or refused with why. */
  async decide(agent: AgentRecord, requested: string[]): Promise<{ accepted: string[]; refused: Array<{ hostname: string; reason: string }> }> {
    const accepted: string[] = [];
    const seen = new Set<string>();
    const refused: Array<{ hostname: string; reason: string }> = [];
    const domains = await this.listDomains(agent.user);
    const verified = [];
    for (const d of domains) if (d.state === 'verified' && (await holdsHost(this.store, d.domain, agent.user))) verified.push(d.domain);
    for (const raw of requested) {
      const h = normalizeHostname(raw);
      if (!isValidRouteHostname(h)) {
        refused.push({ hostname: h, reason: 'not a valid hostname (letters, digits, hyphens; `*.` only as the first label)' });
        continue;
      }
      if (seen.has(h)) continue;
      if (covers(`*.${agent.hostname}`, h) || h === agent.hostname) {
        accepted.push(h);
        seen.add(h);
        continue;
      }
      const bare = h.startsWith('*.') ? h.slice(2) : h;
      if (verified.some((d) => underDomain(d, bare) || underDomain(d, h))) {
        accepted.push(h);
        seen.add(h);
        continue;
      }
      const pending = domains.find((d) => underDomain(d.domain, bare));
      refused.push({
        hostname: h,
        reason: pending
          ? `domain ${pending.domain} is not verified yet: ${pending.missing.join('; ') || 'run `sluice domains verify ' + pending.domain + '`'}`
          : `not owned: ${h} is neither under this agent's address ${agent.hostname} nor under a verified domain of user ${agent.user} (add it with \`sluice domains add\`)`,
      });
    }
    return { accepted, refused };
  }

  /**
   * An agent's registration: its whole claim set, decided and written as routes. `sources`: where
   * each name comes from (absent: as the record has them, for a re-decision); the generated name is `cli`'s.
   */
  async registerAgent(agentId: string, requested: string[], generate: boolean, sources?: SourcesByHost): Promise<AgentRecord> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await this.store.get(keys.agent(agentId), recordCodecs.agent);
      if (!cur) throw notFound(`agent ${agentId}`);
      const want = generate ? [cur.value.hostname, ...requested.filter((h) => h !== cur.value.hostname)] : requested;
      const { accepted, refused } = await this.decide(cur.value, want);
      const { requested: _old, sources: _oldSources, ...rest } = cur.value;
      const byHost = sources ?? recordSources(cur.value);
      if (generate && !byHost.has(cur.value.hostname)) byHost.set(cur.value.hostname, [{ kind: 'cli' }]);
      const grouped = groupSources(claimedNames({ accepted, refused }), byHost);
      let next: AgentRecord = { ...rest, accepted, refused, registeredAt: Date.now(), ...(grouped ? { sources: grouped } : {}) };
      if (grouped && !this.fits(next)) {
        // the sources only inform the dashboard: the record (and routing) must not fail for them
        this.logger.warn({ agentId, names: accepted.length + refused.length }, 'claim sources not stored: the agent record would pass the NATS message limit');
        next = { ...rest, accepted, refused, registeredAt: next.registeredAt };
      }
      if (!(await this.store.update(keys.agent(agentId), recordCodecs.agent, next, cur.revision))) continue;
      await this.setRoutes(agentId, accepted);
      for (const r of refused.slice(0, 20)) this.logger.warn({ agentId, hostname: r.hostname, reason: r.reason }, 'hostname refused');
      if (refused.length > 20) this.logger.warn({ agentId, more: refused.length - 20 }, 'more hostnames refused (`sluice agents status` lists them)');
      this.emit({ kind: 'agent-registered', user: next.user, agentId, hostnames: accepted });
      return next;
    }
    throw conflict('agent changed meanwhile; retry');
  }

  /** Does the record fit in one KV value (the server's max_payload, less room for headers)? */
  private fits(a: AgentRecord): boolean {
    return recordCodecs.agent.encode(a).length <= (this.nc.info?.max_payload ?? 1024 * 1024) - 16 * 1024;
  }

  /** Re-decides every agent of `user` (after a domain was verified or lost its proof). */
  async reconcileUser(user: string): Promise<void> {
    for (const a of await this.listAgents(user)) {
      if (a.registeredAt === undefined) continue;
      await this.registerAgent(a.id, requestedOf(a), false);
    }
  }

  /** Makes the routes bucket hold exactly `hostnames` for `agentId`. */
  async setRoutes(agentId: string, hostnames: string[]): Promise<void> {
    const keep = new Set(hostnames.map((h) => `${agentId}.${hostnameToKey(h)}`));
    const existing = new Set<string>();
    for await (const k of await this.routes.keys(`${agentId}.>`)) existing.add(k);
    const added = hostnames.filter((h) => !existing.has(`${agentId}.${hostnameToKey(h)}`));
    const stale = [...existing].filter((k) => !keep.has(k));
    // thousands of names (an agent with 10,000 Ingresses): writes in flight together, not one by one
    await inBatches(added, ROUTE_WRITES_IN_FLIGHT, (h) =>
      this.routes.put(`${agentId}.${hostnameToKey(h)}`, codecs.routeRecord.encode({ v: 1, hostname: h, agentId, createdAt: Date.now() })).then(() => undefined),
    );
    await inBatches(stale, ROUTE_WRITES_IN_FLIGHT, (k) => this.routes.delete(k));
    const removed = stale.map((k) => keyToHostname(k.slice(agentId.length + 1)));
    if (added.length > 0 || removed.length > 0) this.emit({ kind: 'routes-changed', agentId, hostnames: added, removed });
  }

  // --- domains -------------------------------------------------------------------------------

  async addDomain(user: string, raw: string): Promise<DomainRecord> {
    const domain = normalizeHostname(raw);
    if (!isValidRouteHostname(domain) || domain.startsWith('*.') || !domain.includes('.')) {
      throw new RegistryError('SLUICE_INVALID_DOMAIN', `${raw} is not a domain name (like home.example.com)`, 400);
    }
    if (domain === this.opts.zone || domain.endsWith(`.${this.opts.zone}`) || domain === this.opts.ddnsZone || domain.endsWith(`.${this.opts.ddnsZone}`)) {
      throw new RegistryError('SLUICE_INVALID_DOMAIN', `${domain} is inside the gateway's own zones; agents get names there from \`sluice agents create\``, 400);
    }
    const rec: DomainRecord = { v: 1, domain, user, token: `sluice-verify=${newId(24)}`, state: 'pending', createdAt: Date.now(), missing: [] };
    if (!(await this.store.create(keys.domain(user, domain), recordCodecs.domain, rec))) throw conflict(`domain ${domain} was already added`);
    this.emit({ kind: 'domain-added', user, domain });
    return rec;
  }

  async listDomains(user: string): Promise<DomainRecord[]> {
    // keys are `domain.<user>.<domain>`: one user's domains are one key prefix
    return this.store.list(`domain.${user}`, recordCodecs.domain);
  }

  async getDomain(user: string, raw: string): Promise<{ value: DomainRecord; revision: number }> {
    const name = normalizeHostname(raw);
    if (!isValidRouteHostname(name) || name.startsWith('*.')) throw new RegistryError('SLUICE_INVALID_DOMAIN', `${JSON.stringify(raw.slice(0, 260))} is not a domain name`, 400);
    const d = await this.store.get(keys.domain(user, normalizeHostname(raw)), recordCodecs.domain);
    if (!d) throw notFound(`domain ${raw}`);
    return d;
  }

  /** `agents`: the user's agents (their addresses are the CNAME alternatives), when the caller has them. */
  async domainView(d: DomainRecord, agents?: AgentRecord[]): Promise<DomainView> {
    agents ??= await this.listAgents(d.user);
    return {
      domain: d.domain,
      state: d.state,
      record: { type: 'TXT', name: `${CHALLENGE_LABEL}.${d.domain}`, value: d.token },
      alternatives: agents.flatMap((a) => [
        { type: 'CNAME' as const, name: d.domain, value: a.hostname },
        { type: 'CNAME' as const, name: d.domain, value: a.ddnsHostname },
      ]),
      missing: d.missing,
      ...(d.method ? { method: d.method } : {}),
      ...(d.verifiedAt ? { verifiedAt: new Date(d.verifiedAt).toISOString() } : {}),
      ...(d.checkedAt ? { checkedAt: new Date(d.checkedAt).toISOString() } : {}),
    };
  }

  /** Checks the proof with real DNS queries; verified → owned and routable; lost → unrouted. */
  async verifyDomain(user: string, raw: string): Promise<DomainRecord> {
    const cur = await this.getDomain(user, raw);
    const d = cur.value;
    const agents = await this.listAgents(user);
    const result = await this.checker.check(d.domain, { txt: d.token, cnameTargets: agents.flatMap((a) => [a.hostname, a.ddnsHostname]) });
    const now = Date.now();
    let next: DomainRecord;
    if (result.ok) {
      const claim = await claimHost(this.store, d.domain, user, 'domain', this.opts.holdbackMs, now);
      next = claim.ok
        ? { ...d, state: 'verified', method: result.method, verifiedAt: d.state === 'verified' ? d.verifiedAt ?? now : now, checkedAt: now, missing: [] }
        : { ...d, state: 'pending', checkedAt: now, missing: [claim.reason] };
    } else {
      next = { ...d, state: 'pending', checkedAt: now, missing: result.missing };
      delete next.method;
      delete next.verifiedAt;
    }
    if (!(await this.store.update(keys.domain(user, d.domain), recordCodecs.domain, next, cur.revision))) throw conflict('domain changed meanwhile; retry');
    if (d.state !== next.state) {
      if (next.state === 'pending') await releaseHost(this.store, d.domain, user, now);
      this.emit({ kind: next.state === 'verified' ? 'domain-verified' : 'domain-unverified', user, domain: d.domain, detail: next.missing.join('; ').slice(0, 1024) });
      this.logger.info({ user, domain: d.domain, state: next.state, missing: next.missing }, 'domain state changed');
      await this.reconcileUser(user);
    }
    return next;
  }

  async removeDomain(user: string, raw: string): Promise<void> {
    const cur = await this.getDomain(user, raw);
    await this.store.delete(keys.domain(user, cur.value.domain));
    if (cur.value.state === 'verified') await releaseHost(this.store, cur.value.domain, user);
    this.emit({ kind: 'domain-removed', user, domain: cur.value.domain });
    await this.reconcileUser(user);
  }

  /** Re-checks every verified domain: a proof that disappeared stops routing (no dangling CNAME takeover). */
  async recheckDomains(): Promise<void> {
    const all = await this.store.list('domain', recordCodecs.domain);
    for (const d of all) {
      if (d.state !== 'verified') continue;
      try {
        await this.verifyDomain(d.user, d.domain);
      } catch (err) {
        this.logger.warn({ err, domain: d.domain }, 'domain re-check failed');
      }
    }
  }
}
