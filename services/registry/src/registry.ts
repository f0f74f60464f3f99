import type { NatsConnection, Subscription, Msg } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import { Counter, type Registry as MetricsRegistry } from 'prom-client';
import {
  codecs,
  isValidRouteHostname,
  newId,
  normalizeHostname,
  subjects,
  SluiceError,
  agentConsumers,
  MAX_REPLY_URLS,
  type RegisterReply,
  type RegisterRequest,
} from '@sluice/contracts';
import { ensurePullConsumer, ensureStreams, openRoutesBucket } from '@sluice/nats';
import type { FastifyInstance } from 'fastify';
import type { RegistryConfig } from './config.ts';
import { RegistryCore, covers, type CredentialIssuer } from './core.ts';
import { buildApi } from './api.ts';
import { openRegistryBucket, Store } from './store.ts';
import { createDomainChecker, type DomainChecker } from './verify.ts';
import { createNatsIssuer } from './nats-issuer.ts';
import { AgentPresence } from './agent-presence.ts';
import { sourcesByHost } from './claim-sources.ts';
import type { Trust } from '@sluice/auth';

export interface RegistryDeps {
  nc: NatsConnection;
  logger: Logger;
  metrics?: MetricsRegistry;
  /** Issues per-agent NATS credentials; without one agents authenticate with their secret only. */
  issuer?: CredentialIssuer;
  /**
   * Per-agent NATS credentials: the operator/account keys and a system-account connection (to push
   * revocations). Without it agents authenticate to the registry with their secret only.
   */
  natsAuth?: { trust: Trust; sysNc: NatsConnection };
  /** DNS checks of custom domains; by default real queries to `config.dnsServers` (or the system's). */
  checker?: DomainChecker;
}

export interface Registry {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The REST API's port once started (when `config.api` is set). */
  readonly apiPort: number | undefined;
  /** On a first start with empty state: the bootstrap admin's API token (stored hashed; shown once). */
  readonly bootstrapToken: string | undefined;
  readonly core: RegistryCore | undefined;
}

export class HostnameNotOwnedError extends SluiceError {
  constructor(hostname: string, why: string) {
    super('SLUICE_HOSTNAME_NOT_OWNED', `${hostname}: ${why}`);
  }
}

/**
 * The system of record for this issue's scope: which agent may serve which hostnames. Agents ask
 * over NATS (`sluice.registry.register`); accepted routes go into the routes bucket (the router
 * follows it) and every change is announced on `sluice.events.registry.*`.
 */
export { covers };

/** `sluice.registry.agent.<id>.register`: only agent <id>'s credentials may publish there. */
const AGENT_REGISTER_ALL = subjects.registryAgentRegisterAll;
const AGENT_UNREGISTER_ALL = subjects.registryAgentUnregisterAll;

export function createRegistry(config: RegistryConfig, deps: RegistryDeps): Registry {
  const { nc, logger } = deps;
  const byToken = new Map(config.agents.map((a) => [a.token, a]));
  const subs: Subscription[] = [];
  let kv: KV | undefined;
  const reg = deps.metrics;
  const metrics = reg
    ? {
        registrations: new Counter({ name: 'sluice_registry_registrations_total', help: 'Agent registrations: ok, or the refusal code without SLUICE_ (unauthorized, invalid_message, internal)', labelNames: ['result'], registers: [reg] }),
        hostnames: new Counter({ name: 'sluice_registry_hostnames_total', help: 'Hostnames agents asked for, accepted or refused', labelNames: ['result'], registers: [reg] }),
        unregistrations: new Counter({ name: 'sluice_registry_unregistrations_total', help: 'Agents that released their hostnames: ok, kept (configured agents keep theirs), invalid, error', labelNames: ['result'], registers: [reg] }),
      }
    : undefined;

  const generatedBase = (name: string, user: string): string => `${name}.${user}.${config.region}.${config.zone}`;

  const urlFor = (host: string): string =>
    `http://${host}${config.publicHttpPort === 80 ? '' : `:${config.publicHttpPort}`}/`;
  /** The reply stays small for an agent with thousands of names: `accepted` lists them all. */
  const urlsFor = (accepted: string[]): string[] => accepted.filter((h) => !h.startsWith('*.')).slice(0, MAX_REPLY_URLS).map(urlFor);

  let core: RegistryCore | undefined;
  let api: FastifyInstance | undefined;
  let apiPort: number | undefined;
  let bootstrapToken: string | undefined;
  let recheck: NodeJS.Timeout | undefined;
  const presence = new AgentPresence(nc, logger);

  /** An API-created agent registers: identified by its secret, or by the subject its NATS credentials may publish on. */
  const registerApiAgent = async (agentId: string, req: RegisterRequest): Promise<RegisterReply> => {
    const a = await core!.registerAgent(agentId, req.hostnames, req.generate, sourcesByHost(req.hostnames, req.sources));
    logger.info({ agentId, accepted: a.accepted.length, refused: a.refused.length, first: a.accepted.slice(0, 5) }, 'agent registered');
    return { v: 1, ok: true, agentId, accepted: a.accepted, refused: a.refused, urls: urlsFor(a.accepted) };
  };

  const register = async (req: RegisterRequest, subjectAgentId?: string): Promise<RegisterReply> => {
    const refused: RegisterReply['refused'] = [];
    const accepted: string[] = [];
    let agentId: string;
    let owned: string[];
    let user: string;
    const denied = (message: string): RegisterReply => ({ v: 1, ok: false, error: { code: 'SLUICE_UNAUTHORIZED', message }, accepted, refused, urls: [] });
    // its credentials may read its consumers, not create them (see agentConsumers)
    const withConsumers = async (reply: RegisterReply, id: string): Promise<RegisterReply> => {
      if (!reply.ok) return reply;
      await ensureStreams(nc);
      for (const c of agentConsumers(id)) {
        await ensurePullConsumer(nc, { stream: c.stream, durable: c.consumer, filterSubject: c.filter, inactiveThresholdMs: c.inactiveThresholdMs }, req.resetConsumers ?? false);
      }
      return reply;
    };
    const configured = subjectAgentId !== undefined ? config.agents.find((c) => c.id === subjectAgentId) : undefined;
    if (subjectAgentId !== undefined && !configured) {
      // the NATS server let this agent publish here only with its own credentials
      const a = await core!.agentById(subjectAgentId);
      if (!a) return denied(`agent ${subjectAgentId} does not exist (deleted?)`);
      if (req.token !== undefined && (await core!.agentByToken(req.token))?.id !== a.id) return denied('the token does not belong to this agent');
      return withConsumers(await registerApiAgent(a.id, req), a.id);
    }
    if (configured) {
      // a configured agent on credentials issued for its id: the subject is its identity
      agentId = configured.id;
      user = configured.user;
      owned = configured.hostnames.map(normalizeHostname);
    } else if (req.token?.startsWith('sla_')) {
      const a = await core!.agentByToken(req.token);
      if (!a) return denied('unknown or revoked agent token');
      if (a.natsUser !== undefined && (deps.issuer || deps.natsAuth)) return denied('this agent has NATS credentials: register on its own subject (connect with its .creds file)');
      return registerApiAgent(a.id, req);
    } else if (req.token !== undefined) {
      const a = byToken.get(req.token);
      if (!a) return { v: 1, ok: false, error: { code: 'SLUICE_UNAUTHORIZED', message: 'unknown agent token' }, accepted, refused, urls: [] };
      // replicas of one configured agent run as `<id>` or `<id>-<suffix>`
      agentId = req.agentId && (req.agentId === a.id || req.agentId.startsWith(`${a.id}-`)) ? req.agentId : a.id;
      user = a.user;
      owned = a.hostnames.map(normalizeHostname);
    } else {
      if (!config.anonymousUser) {
        return { v: 1, ok: false, error: { code: 'SLUICE_UNAUTHORIZED', message: 'a token is required (anonymous tunnels are disabled)' }, accepted, refused, urls: [] };
      }
      agentId = newId(5);
      user = config.anonymousUser;
      owned = [];
    }
    const base = generatedBase(agentId, user);
    owned.push(base, `*.${base}`);
    const wanted = req.hostnames.map(normalizeHostname);
    const seen = new Set<string>();
    if (req.generate) wanted.unshift(base);
    for (const h of wanted) {
      if (!isValidRouteHostname(h)) {
        refused.push({ hostname: h, reason: 'not a valid hostname (letters, digits, hyphens; `*.` only as the first label)' });
      } else if (!owned.some((o) => covers(o, h))) {
        refused.push({ hostname: h, reason: new HostnameNotOwnedError(h, `not owned by agent ${agentId}`).message });
      } else if (!seen.has(h)) {
        seen.add(h);
        accepted.push(h);
      }
    }
    // a registration is the agent's whole claim: names it no longer asks for are released
    await core!.setRoutes(agentId, accepted);
    core!.emit({ kind: 'agent-registered', user, agentId, hostnames: accepted });
    logger.info({ agentId, accepted: accepted.length, refused: refused.length, first: accepted.slice(0, 5) }, 'agent registered');
    const reply: RegisterReply = { v: 1, ok: true, agentId, accepted, refused, urls: urlsFor(accepted) };
    return configured ? withConsumers(reply, agentId) : reply;
  };

  const unregister = async (agentId: string): Promise<void> => {
    if (await core!.agentById(agentId)) {
      // an API agent's routes stay while it exists (restarts); deleting the agent releases them
      return;
    }
    await core!.setRoutes(agentId, []);
    core!.emit({ kind: 'agent-unregistered', agentId });
    logger.info({ agentId }, 'agent unregistered');
  };

  const answer = (m: Msg, reply: RegisterReply): void => {
    m.respond(codecs.registerReply.encode(reply));
    metrics?.registrations.inc({ result: reply.ok ? 'ok' : (reply.error?.code ?? 'error').replace(/^SLUICE_/, '').toLowerCase() });
    if (reply.accepted.length > 0) metrics?.hostnames.inc({ result: 'accepted' }, reply.accepted.length);
    if (reply.refused.length > 0) metrics?.hostnames.inc({ result: 'refused' }, reply.refused.length);
  };
  const fail = (m: Msg, code: string, message: string): void =>
    answer(m, { v: 1, ok: false, error: { code, message }, accepted: [], refused: [], urls: [] });

  const onRegister = (m: Msg, subjectAgentId?: string): void => {
    let req: RegisterRequest;
    try {
      req = codecs.registerRequest.decode(m.data);
      // the codec checks the shape; that every position names one of the hostnames, here
      sourcesByHost(req.hostnames, req.sources);
    } catch (err) {
      fail(m, 'SLUICE_INVALID_MESSAGE', (err as Error).message);
      return;
    }
    register(req, subjectAgentId).then(
      (r) => answer(m, r),
      (err: unknown) => {
        logger.error({ err }, 'register failed');
        fail(m, 'SLUICE_INTERNAL', 'registration could not be stored; retry');
      },
    );
  };

  return {
    get apiPort() {
      return apiPort;
    },
    get bootstrapToken() {
      return bootstrapToken;
    },
    get core() {
      return core;
    },
    async start() {
      kv = await openRoutesBucket(nc);
      const store = new Store(await openRegistryBucket(nc));
      const natsIssuer = deps.natsAuth ? createNatsIssuer(deps.natsAuth.trust, deps.natsAuth.sysNc, store, logger) : undefined;
      const issuer = deps.issuer ?? natsIssuer;
      // a server that lost the account JWT (or a new one) gets every revocation back
      await natsIssuer?.sync();
      const checker = deps.checker ?? createDomainChecker({ ...(config.dnsServers ? { servers: config.dnsServers } : {}) });
      core = new RegistryCore(store, kv, nc, checker, {
        zone: config.zone,
        ddnsZone: config.ddnsZone ?? `dyn.${config.zone}`,
        holdbackMs: config.hostnameHoldbackSeconds * 1000,
        ...(config.agentNatsUrl ? { natsUrl: config.agentNatsUrl } : {}),
      }, logger, issuer);
      if (config.bootstrapAdmin && (await core.userCount()) === 0) {
        bootstrapToken = (await core.createUser('admin', true)).token;
        logger.info('first start: created user admin (its token is printed once on stdout)');
      }
      presence.start();
      subs.push(
        // the subject's agent token is the authenticated id: only its credentials may publish there
        nc.subscribe(AGENT_REGISTER_ALL, { queue: 'registry', callback: (_e, m) => onRegister(m, m.subject.split('.')[3]!) }),
        nc.subscribe(AGENT_UNREGISTER_ALL, { queue: 'registry', callback: (_e, m) => void m.respond(JSON.stringify({ ok: true, kept: true })) }),
      );
      if (config.api) {
        api = await buildApi(core, {
          region: config.region,
          bodyLimit: config.api.bodyLimitBytes,
          requestsPerMinute: config.api.requestsPerMinute,
          verificationsPerMinute: config.api.verificationsPerMinute,
          authFailuresPerMinute: config.api.authFailuresPerMinute,
          status: (id) => presence.status(id),
        }, logger);
        await api.listen({ port: config.api.port, host: config.api.host });
        const addr = api.server.address();
        apiPort = typeof addr === 'object' && addr ? addr.port : config.api.port;
        logger.info({ port: apiPort }, 'REST API listening');
      }
      recheck = setInterval(() => void core!.recheckDomains(), config.domainRecheckSeconds * 1000);
      recheck.unref();
      subs.push(
        nc.subscribe(subjects.registryRegister, { queue: 'registry', callback: (_e, m) => onRegister(m) }),
        nc.subscribe(subjects.registryUnregister, {
          queue: 'registry',
          callback: (_e, m) => {
            let agentId: string;
            try {
              const req = codecs.unregisterRequest.decode(m.data);
              // configured agents' routes stay: their replicas and restarts keep serving them
              if (req.token !== undefined && byToken.has(req.token)) {
                m.respond(JSON.stringify({ ok: true, kept: true }));
                metrics?.unregistrations.inc({ result: 'kept' });
                return;
              }
              agentId = req.agentId;
            } catch (err) {
              m.respond(JSON.stringify({ ok: false, error: (err as Error).message }));
              metrics?.unregistrations.inc({ result: 'invalid' });
              return;
            }
            unregister(agentId).then(
              () => {
                m.respond(JSON.stringify({ ok: true }));
                metrics?.unregistrations.inc({ result: 'ok' });
              },
              (err: unknown) => {
                logger.error({ err }, 'unregister failed');
                m.respond(JSON.stringify({ ok: false, error: 'could not remove routes' }));
                metrics?.unregistrations.inc({ result: 'error' });
              },
            );
          },
        }),
      );
      logger.info({ zone: config.zone, agents: config.agents.length }, 'registry ready');
    },
    async stop() {
      if (recheck) clearInterval(recheck);
      await api?.close();
      presence.stop();
      for (const s of subs) s.unsubscribe();
    },
  };
}
