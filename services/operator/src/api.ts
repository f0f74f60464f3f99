import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { installJsonErrors } from '@sluice/runtime';
import swagger from '@fastify/swagger';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { DevApiError, ID_PATTERN, SluiceError, TunnelHeartbeat, TunnelReportReply, TunnelStatusReport } from '@sluice/contracts';

/** A refusal of the REST API: a 4xx status, a stable code and a message that says what was wrong. */
export class TunnelApiError extends SluiceError {
  constructor(
    code: string,
    message: string,
    readonly status: number,
  ) {
    super(code, message);
  }
}

export interface TunnelReport {
  kind: 'status' | 'heartbeat';
  pod: string;
  state: TunnelStatusReport['state'];
  reason?: string;
  activeConnections?: number;
}

export interface TunnelApiHandlers {
  /** False until every Intercept has been listed once (a report before that could be refused wrongly). */
  ready(): boolean;
  /** Records a report; throws TunnelApiError to refuse it. */
  report(tunnelId: string, token: string, report: TunnelReport): TunnelReportReply;
}

export interface TunnelApi {
  readonly app: FastifyInstance;
  /** Listens on every port (the same API on each); returns the ports bound. */
  listen(host: string, ports: number[]): Promise<number[]>;
  close(): Promise<void>;
}

interface ValidationIssue {
  keyword: string;
  instancePath: string;
  message?: string;
  params?: { allowedValue?: unknown };
}

/**
 * One sentence for a schema violation. A union of literals fails as one `const` error per
 * alternative plus an `anyOf`: those become "must be one of …".
 */
function validationMessage(context: string, issues: ValidationIssue[], fallback: string): string {
  const first = issues[0];
  if (!first) return fallback;
  const where = `${context}${first.instancePath}`;
  const allowed = issues.filter((i) => i.keyword === 'const' && i.instancePath === first.instancePath).map((i) => JSON.stringify(i.params?.allowedValue));
  if (allowed.length > 1) return `${where} must be one of ${allowed.join(', ')}`;
  return `${where} ${first.message ?? 'is invalid'}`;
}

const TunnelParams = Type.Object({ tunnelId: Type.String({ pattern: ID_PATTERN, description: 'the tunnel id (the Intercept\'s status.tunnelId)' }) }, { additionalProperties: false });
const errors = { 400: DevApiError, 401: DevApiError, 403: DevApiError, 404: DevApiError, 413: DevApiError, 415: DevApiError, 503: DevApiError };
const TOKEN_RE = /^Bearer ([A-Za-z0-9_-]{16,128})$/;

/**
 * The operator's REST API (fastify, OpenAPI at /openapi.json): tunnel pods report connected or
 * disconnected and heartbeat. Every body is checked against the contracts' schemas; anything
 * wrong is a 4xx with a precise message, never a 500.
 */
export async function buildTunnelApi(handlers: TunnelApiHandlers, opts: { bodyLimit: number; metrics?: Registry | undefined }, logger: Logger): Promise<TunnelApi> {
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const servers: Server[] = [];
  const app = Fastify({
    loggerInstance: logger.child({ component: 'api' }, { level: logger.isLevelEnabled('debug') ? 'debug' : 'warn' }) as unknown as FastifyBaseLogger,
    bodyLimit: opts.bodyLimit,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // one handler, several listening servers (ports 80 and 8083 serve the same API)
    serverFactory: (h) => {
      handler = h;
      const s = createServer(h);
      servers.push(s);
      return s;
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // text/plain is not a report: 415, rather than a string that fails the schema
  app.removeContentTypeParser('text/plain');
  if (opts.metrics) {
    const responses = new Counter({ name: 'sluice_operator_api_responses_total', help: 'REST API answers, by route and status code (4xx: refused, with the reason in the body)', labelNames: ['route', 'status'], registers: [opts.metrics] });
    app.addHook('onResponse', async (req, reply) => {
      responses.inc({ route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) });
    });
  }
  await app.register(new FastifyOtelInstrumentation({ ignorePaths: (o: { url: string }) => o.url === '/healthz' || o.url === '/readyz' }).plugin());

  installJsonErrors(app, {
    known: (err) => (err instanceof TunnelApiError ? { status: err.status, code: err.code, message: err.message } : undefined),
    validationMessage: (context, err) => validationMessage(context, err.validation as ValidationIssue[], err.message),
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Sluice operator API', version: '1.0.0', description: 'Developer mode: tunnel pods report whether the developer\'s agent is connected, and heartbeat.' },
      components: { securitySchemes: { tunnelToken: { type: 'http', scheme: 'bearer', description: 'the tunnel pod\'s token (TUNNEL_TOKEN in its spec)' } } },
      security: [{ tunnelToken: [] }],
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => (handlers.ready() ? { ready: true } : reply.code(503).send({ error: { code: 'SLUICE_NOT_READY', message: 'the operator has not listed the Intercepts yet' } })));

  const tokenOf = (authorization: string | undefined): string => {
    const m = authorization ? TOKEN_RE.exec(authorization) : null;
    if (!m) throw new TunnelApiError('SLUICE_UNAUTHORIZED', 'missing or malformed Authorization header (expected "Bearer <tunnel token>", the TUNNEL_TOKEN of the tunnel pod)', 401);
    return m[1]!;
  };
  const notReady = (): void => {
    if (!handlers.ready()) throw new TunnelApiError('SLUICE_NOT_READY', 'the operator is starting and has not listed the Intercepts yet; report again shortly', 503);
  };

  await app.register(async (scope) => {
    const v1 = scope.withTypeProvider<TypeBoxTypeProvider>();
    v1.put('/tunnels/:tunnelId/status', {
      schema: {
        summary: 'The tunnel pod\'s state changed: connected (the developer\'s agent is online) or disconnected',
        params: TunnelParams,
        body: TunnelStatusReport,
        response: { 200: TunnelReportReply, ...errors },
      },
    }, async (req) => {
      notReady();
      const token = tokenOf(req.headers.authorization);
      return handlers.report(req.params.tunnelId, token, { kind: 'status', pod: req.body.pod, state: req.body.state, ...(req.body.reason !== undefined ? { reason: req.body.reason } : {}) });
    });
    v1.post('/tunnels/:tunnelId/heartbeat', {
      schema: {
        summary: 'The tunnel pod is alive and its state is still this; without one within the heartbeat timeout the Service goes back to its own pods',
        params: TunnelParams,
        body: TunnelHeartbeat,
        response: { 200: TunnelReportReply, ...errors },
      },
    }, async (req) => {
      notReady();
      const token = tokenOf(req.headers.authorization);
      return handlers.report(req.params.tunnelId, token, { kind: 'heartbeat', pod: req.body.pod, state: req.body.state, activeConnections: req.body.activeConnections });
    });
  }, { prefix: '/v1' });

  await app.ready();
  const listenOne = (s: Server, host: string, port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      s.once('error', reject);
      s.listen({ port, host }, () => {
        s.removeListener('error', reject);
        const a = s.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  return {
    app: app as unknown as FastifyInstance,
    async listen(host, ports) {
      const bound: number[] = [];
      for (const [i, port] of ports.entries()) {
        const s = i === 0 ? servers[0]! : createServer(handler!);
        if (i > 0) servers.push(s);
        s.keepAliveTimeout = 5_000;
        bound.push(await listenOne(s, host, port));
      }
      return bound;
    },
    async close() {
      // the servers were listened here, not by app.listen(): they are closed here too
      const closed = Promise.all(servers.map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r()))));
      for (const s of servers) s.closeIdleConnections();
      setTimeout(() => {
        for (const s of servers) s.closeAllConnections();
      }, 1_000).unref();
      await closed;
      await app.close();
    },
  };
}
