import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { installJsonErrors } from '@sluice/runtime';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import rateLimit from '@fastify/rate-limit';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import { AGENT_NAME_PATTERN, REGION_PATTERN, USER_PATTERN, type UserRecord } from './records.ts';
import { RegistryError, type RegistryCore } from './core.ts';
import { dashboard } from './dashboard.ts';
import { sessionCredential } from './session.ts';
import type { AgentStatus } from './agent-presence.ts';
import { recordSources, type ClaimSource as ClaimSourceOf } from './claim-sources.ts';

export interface ApiOptions {
  /** Default region for `POST /v1/agents` without one. */
  region: string;
  bodyLimit: number;
  /** Requests per minute per client address, all routes. */
  requestsPerMinute: number;
  /** Domain verifications per minute per user. */
  verificationsPerMinute: number;
  /** Failed authentications per minute per client address before 429. */
  authFailuresPerMinute: number;
  /** The registry's live view of an agent for `GET /v1/agents` (heartbeats and address reports). */
  status?: (agentId: string) => AgentStatus | undefined;
}

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });
const Name = (pattern: string, description: string) => Type.String({ pattern, description });
const Claim = Type.Object({ hostname: Type.String(), reason: Type.String() });
const SourceKind = Type.Union([Type.Literal('config'), Type.Literal('cli'), Type.Literal('ingress')], {
  description: '`config`: the agent config file; `cli`: the command line, or generated on request (`sluice http`); `ingress`: a Kubernetes Ingress (namespace, name)',
});
const ClaimSource = Type.Object({
  hostname: Type.String(),
  kind: SourceKind,
  namespace: Type.Optional(Type.String({ description: "the Ingress's namespace" })),
  name: Type.Optional(Type.String({ description: "the Ingress's name" })),
});
const Count = Type.Integer({ minimum: 0 });
const Agent = Type.Object({
  id: Type.String(), name: Type.String(), user: Type.String(), region: Type.String(),
  hostname: Type.String({ description: 'tunnel address: <name>.<user>.<region>.<tunnel zone>' }),
  ddnsHostname: Type.String({ description: 'dynamic-DNS address: <name>.<user>.<region>.<ddns zone>' }),
  createdAt: Type.String(), registeredAt: Type.Optional(Type.String()),
  online: Type.Optional(Type.Boolean()), lastSeen: Type.Optional(Type.String()),
  instances: Type.Optional(Type.Integer({ minimum: 0, description: 'instances heartbeating now (replicas of the agent)' })),
  version: Type.Optional(Type.String({ description: 'the agent software, as its heartbeats name it (e.g. sluice-agent/0.1.0)' })),
  connectedSince: Type.Optional(Type.String({ description: 'since when the longest-connected instance has been connected' })),
  activeConnections: Type.Optional(Count),
  bytesInLastMinute: Type.Optional(Type.Integer({ minimum: 0, description: 'bytes toward the upstream over the last 60 s (reported by the agent)' })),
  bytesOutLastMinute: Type.Optional(Type.Integer({ minimum: 0, description: 'bytes back to clients over the last 60 s (reported by the agent)' })),
  publicAddress: Type.Optional(Type.Object({
    ipv4: Type.Optional(Type.String()),
    ipv6: Type.Optional(Type.String()),
    source: Type.Union([Type.Literal('nats'), Type.Literal('config')], { description: '`nats`: where the NATS server sees the agent connect from; `config`: set in its config' }),
    reportedAt: Type.String(),
  }, { description: 'the public address the agent reports (its dynamic-DNS records answer it)' })),
  requested: Type.Array(Type.String()), accepted: Type.Array(Type.String()), refused: Type.Array(Claim),
  sources: Type.Optional(Type.Array(ClaimSource, { description: 'where each claim came from (a name may have several sources, or none known)' })),
});
const Credentials = Type.Object({
  agentId: Type.String(),
  token: Type.String({ description: 'the agent secret (`token` in the agent config); shown once' }),
  natsUrl: Type.Optional(Type.String()),
  natsCreds: Type.Optional(Type.String({ description: 'NATS user JWT + nkey seed (.creds file); shown once' })),
});
const AgentCreated = Type.Object({ name: Type.String(), region: Type.String(), hostname: Type.String(), ddnsHostname: Type.String(), credentials: Credentials });
const DnsRecord = Type.Object({ type: Type.String(), name: Type.String(), value: Type.String() });
const Domain = Type.Object({
  domain: Type.String(),
  state: Type.Union([Type.Literal('pending'), Type.Literal('verified')]),
  record: DnsRecord,
  alternatives: Type.Array(DnsRecord),
  missing: Type.Array(Type.String()),
  method: Type.Optional(Type.String()),
  verifiedAt: Type.Optional(Type.String()),
  checkedAt: Type.Optional(Type.String()),
});
const DomainParams = Type.Object({ domain: Type.String({ minLength: 1, maxLength: 253 }) }, { additionalProperties: false });
const AgentParams = Type.Object({ name: Name(AGENT_NAME_PATTERN, 'agent name') }, { additionalProperties: false });
const RegionQuery = Type.Object({ region: Type.Optional(Name(REGION_PATTERN, 'region, when the name exists in several')) }, { additionalProperties: false });
const Token = Type.Object({ id: Type.String(), name: Type.String(), createdAt: Type.String() });
const strict = { additionalProperties: false } as const;
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 429: ErrorBody };

declare module 'fastify' {
  interface FastifyRequest {
    user?: UserRecord;
  }
}

/** The registry's REST API: everything the CLI (and the dashboard) does, nothing more. */
export async function buildApi(core: RegistryCore, opts: ApiOptions, logger: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    // request lines are debug noise; warnings and errors still reach the service log
    loggerInstance: logger.child({ component: 'api' }, { level: logger.isLevelEnabled('debug') ? 'debug' : 'warn' }) as unknown as FastifyBaseLogger,
    bodyLimit: opts.bodyLimit,
    // unknown fields are an error (not silently dropped), types are not coerced in bodies
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // a SERVER span per request (continuing a caller's traceparent); no-op when tracing is off
  await app.register(new FastifyOtelInstrumentation({ ignorePaths: (o: { url: string }) => o.url === '/healthz' }).plugin());

  installJsonErrors(app, {
    known: (err) => (err instanceof RegistryError ? { status: err.status, code: err.code, message: err.message } : undefined),
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Sluice registry API', version: '1.0.0', description: 'Users, API tokens, agents and their credentials, hostnames, custom domains and their verification.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API token (`slt_…`)' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(rateLimit, {
    max: opts.requestsPerMinute,
    timeWindow: 60_000,
    // after authentication, so per-user limits can key on the user
    hook: 'preHandler',
    errorResponseBuilder: (_req, ctx) => ({ statusCode: 429, error: { code: 'SLUICE_RATE_LIMITED', message: `rate limit: ${ctx.max} requests per ${ctx.after}` } }),
  });

  // failed authentications per client address: a token guesser is slowed to a halt
  const authFailures = new WindowCounter(60_000);
  // DNS checks per user: verification makes the registry send queries, so it is bounded
  const verifications = new WindowCounter(60_000);
  const failedRecently = (ip: string): boolean => authFailures.count(ip) >= opts.authFailuresPerMinute;
  const noteFailure = (ip: string): void => authFailures.add(ip);

  const authenticate = async (req: FastifyRequest): Promise<void> => {
    if (failedRecently(req.ip)) throw new RegistryError('SLUICE_RATE_LIMITED', 'too many failed authentications from this address; wait a minute', 429);
    const h = req.headers.authorization;
    const m = h ? /^Bearer ([^\s]{1,256})$/.exec(h) : null;
    // no Authorization header: the dashboard's session cookie (403 without its CSRF header on a state change)
    const token = m ? m[1] : h === undefined ? await sessionCredential(core, req) : undefined;
    if (!token) {
      noteFailure(req.ip);
      throw new RegistryError('SLUICE_UNAUTHORIZED', 'missing or malformed Authorization header (expected "Bearer <API token>")', 401);
    }
    const user = await core.authenticate(token);
    if (!user) {
      noteFailure(req.ip);
      throw new RegistryError('SLUICE_UNAUTHORIZED', 'unknown or revoked API token', 401);
    }
    req.user = user;
  };
  const me = (req: FastifyRequest): UserRecord => req.user!;

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));
  await app.register(dashboard, { core, authenticate });

  await app.register(async (scope) => {
    const v1 = scope.withTypeProvider<TypeBoxTypeProvider>();
    v1.addHook('onRequest', authenticate);

    v1.get('/me', { schema: { summary: 'The signed-in user', response: { 200: Type.Object({ name: Type.String(), admin: Type.Boolean() }), ...errors } } }, async (req) => ({
      name: me(req).name,
      admin: me(req).admin,
    }));

    v1.post('/users', {
      schema: { summary: 'Create a user (admins only); returns its first API token, once', body: Type.Object({ name: Name(USER_PATTERN, 'user name') }, strict), response: { 201: Type.Object({ name: Type.String(), token: Type.String() }), ...errors } },
    }, async (req, reply) => {
      if (!me(req).admin) throw new RegistryError('SLUICE_FORBIDDEN', 'only admins create users', 403);
      const { user, token } = await core.createUser(req.body.name, false);
      return reply.code(201).send({ name: user.name, token });
    });
    v1.get('/users', { schema: { summary: 'List users (admins only)', response: { 200: Type.Array(Type.Object({ name: Type.String(), admin: Type.Boolean() })), ...errors } } }, async (req) => {
      if (!me(req).admin) throw new RegistryError('SLUICE_FORBIDDEN', 'only admins list users', 403);
      return (await core.listUsers()).map((u) => ({ name: u.name, admin: u.admin }));
    });

    v1.post('/tokens', {
      schema: { summary: 'Create another API token for yourself (shown once)', body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) }, strict), response: { 201: Type.Object({ id: Type.String(), name: Type.String(), token: Type.String() }), ...errors } },
    }, async (req, reply) => {
      const { record, token } = await core.createToken(me(req).name, req.body.name);
      return reply.code(201).send({ id: record.id, name: record.name, token });
    });
    v1.get('/tokens', { schema: { summary: 'Your API tokens (never the secrets)', response: { 200: Type.Array(Token), ...errors } } }, async (req) =>
      (await core.listTokens(me(req).name)).map((t) => ({ id: t.id, name: t.name, createdAt: new Date(t.createdAt).toISOString() })),
    );
    v1.delete('/tokens/:id', { schema: { summary: 'Revoke an API token', params: Type.Object({ id: Type.String({ pattern: '^[a-z0-9]{1,64}$' }) }, strict), response: { 204: Type.Null(), ...errors } } }, async (req, reply) => {
      await core.revokeToken(me(req).name, req.params.id);
      return reply.code(204).send(null);
    });

    const agentOut = (a: Parameters<RegistryCore['view']>[0]) => ({ ...core.view(a), ...(opts.status?.(a.id) ?? {}) });
    v1.post('/agents', {
      schema: {
        summary: 'Register an agent; returns its credentials once',
        body: Type.Object({ name: Name(AGENT_NAME_PATTERN, 'agent name'), region: Type.Optional(Name(REGION_PATTERN, 'region')) }, strict),
        response: { 201: AgentCreated, ...errors },
      },
    }, async (req, reply) => {
      const { agent, credentials } = await core.createAgent(me(req).name, req.body.name, req.body.region ?? opts.region);
      return reply.code(201).send({ name: agent.name, region: agent.region, hostname: agent.hostname, ddnsHostname: agent.ddnsHostname, credentials });
    });
    v1.get('/agents', { schema: { summary: 'Your agents', response: { 200: Type.Array(Agent), ...errors } } }, async (req) => (await core.listAgents(me(req).name)).map(agentOut));
    v1.get('/agents/:name', { schema: { summary: "An agent's status: addresses, hostnames accepted and refused (with why)", params: AgentParams, querystring: RegionQuery, response: { 200: Agent, ...errors } } }, async (req) =>
      agentOut((await core.findAgent(me(req).name, req.params.name, req.query.region)).value),
    );
    v1.post('/agents/:name/credentials', { schema: { summary: 'Rotate credentials: new ones, shown once; the old ones are revoked (the agent is disconnected)', params: AgentParams, querystring: RegionQuery, response: { 201: AgentCreated, ...errors } } }, async (req, reply) => {
      const { agent, credentials } = await core.rotateAgent(me(req).name, req.params.name, req.query.region);
      return reply.code(201).send({ name: agent.name, region: agent.region, hostname: agent.hostname, ddnsHostname: agent.ddnsHostname, credentials });
    });
    v1.delete('/agents/:name', { schema: { summary: 'Delete an agent: revoke its credentials (disconnecting it) and stop routing to it', params: AgentParams, querystring: RegionQuery, response: { 204: Type.Null(), ...errors } } }, async (req, reply) => {
      await core.deleteAgent(me(req).name, req.params.name, req.query.region);
      return reply.code(204).send(null);
    });
    const HostnameRow = Type.Object({
      hostname: Type.String(), agent: Type.String(), state: Type.Union([Type.Literal('routed'), Type.Literal('refused')]), reason: Type.Optional(Type.String()),
      sources: Type.Optional(Type.Array(Type.Omit(ClaimSource, ['hostname']), { description: 'where the claim came from' })),
    });
    v1.get('/hostnames', { schema: { summary: 'Every hostname routed to your agents and where each claim came from, and the refused claims', response: { 200: Type.Array(HostnameRow), ...errors } } }, async (req) =>
      (await core.listAgents(me(req).name)).flatMap((a) => {
        const byHost = recordSources(a);
        const from = (h: string): { sources?: ClaimSourceOf[] } => {
          const s = byHost.get(h);
          return s ? { sources: s } : {};
        };
        return [
          ...a.accepted.map((h) => ({ hostname: h, agent: a.name, state: 'routed' as const, ...from(h) })),
          ...a.refused.map((r) => ({ hostname: r.hostname, agent: a.name, state: 'refused' as const, reason: r.reason, ...from(r.hostname) })),
        ];
      }),
    );

    v1.post('/domains', { schema: { summary: 'Add a custom domain; returns the DNS record that proves control', body: Type.Object({ domain: Type.String({ minLength: 1, maxLength: 253 }) }, strict), response: { 201: Domain, ...errors } } }, async (req, reply) =>
      reply.code(201).send(await core.domainView(await core.addDomain(me(req).name, req.body.domain))),
    );
    v1.get('/domains', { schema: { summary: 'Your domains, their state and what is missing', response: { 200: Type.Array(Domain), ...errors } } }, async (req) => {
      const agents = await core.listAgents(me(req).name);
      return Promise.all((await core.listDomains(me(req).name)).map((d) => core.domainView(d, agents)));
    });
    v1.get('/domains/:domain', { schema: { summary: 'One domain', params: DomainParams, response: { 200: Domain, ...errors } } }, async (req) =>
      core.domainView((await core.getDomain(me(req).name, req.params.domain)).value),
    );
    v1.post('/domains/:domain/verify', {
      schema: { summary: 'Check the proving record with real DNS queries now', params: DomainParams, response: { 200: Domain, ...errors } },
    }, async (req) => {
      const user = me(req).name;
      if (verifications.count(user) >= opts.verificationsPerMinute) {
        throw new RegistryError('SLUICE_RATE_LIMITED', `at most ${opts.verificationsPerMinute} verifications per minute; wait and retry`, 429);
      }
      verifications.add(user);
      return core.domainView(await core.verifyDomain(user, req.params.domain));
    });
    v1.delete('/domains/:domain', { schema: { summary: 'Remove a domain (stops routing it)', params: DomainParams, response: { 204: Type.Null(), ...errors } } }, async (req, reply) => {
      await core.removeDomain(me(req).name, req.params.domain);
      return reply.code(204).send(null);
    });
  }, { prefix: '/v1' });

  return app as unknown as FastifyInstance;
}

/** Events per key in a fixed window, bounded in size (a flood of keys resets it rather than growing). */
class WindowCounter {
  private readonly counts = new Map<string, { n: number; since: number }>();
  constructor(private readonly windowMs: number, private readonly maxKeys = 10_000) {}
  count(key: string): number {
    const c = this.counts.get(key);
    return c && Date.now() - c.since < this.windowMs ? c.n : 0;
  }
  add(key: string): void {
    const c = this.counts.get(key);
    if (!c || Date.now() - c.since >= this.windowMs) {
      if (this.counts.size >= this.maxKeys) this.counts.clear();
      this.counts.set(key, { n: 1, since: Date.now() });
    } else c.n++;
  }
}
