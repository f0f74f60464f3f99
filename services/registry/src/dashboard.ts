import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { RegistryError, type RegistryCore } from './core.ts';
import { LiveFeed } from './live-feed.ts';
import { checkCsrf, clearSessionCookie, CSRF_HEADER, csrfFor, pruneSessions, sessionCookie, sessionCredential, SESSION_TOKEN_NAME, setSessionCookie } from './session.ts';

export interface DashboardOptions {
  core: RegistryCore;
  /** The API's authentication hook (Bearer token or session cookie, failures counted per address). */
  authenticate: (req: FastifyRequest) => Promise<void>;
  /** The built front end; default `services/registry/web/dist` (`npm run build:web`). */
  root?: string;
  /** Open live streams per user; more get 429. */
  maxLiveStreamsPerUser?: number;
  /** How often a live stream is kept alive and its credential re-checked. */
  liveHeartbeatMs?: number;
}

/** The pages of the single-page front end: each is its own URL, all served by index.html. */
export const DASHBOARD_PAGES = ['/', '/signin', '/agents', '/agents/:name', '/domains', '/live'] as const;

export const DEFAULT_DASHBOARD_ROOT = fileURLToPath(new URL('../web/dist/', import.meta.url));

const CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'",
].join('; ');

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });
const Session = Type.Object({
  name: Type.String(),
  admin: Type.Boolean(),
  csrf: Type.String({ description: `send it as the ${CSRF_HEADER} header on every state-changing request the session cookie authenticates` }),
});
export const LiveConnectionSchema = Type.Object({
  ts: Type.String({ description: 'when the edge accepted the connection' }),
  connId: Type.String(),
  host: Type.String(),
  proto: Type.Union([Type.Literal('http'), Type.Literal('tls')]),
  clientAddr: Type.String(),
  clientPort: Type.Integer(),
  status: Type.Union([Type.Literal('assigned'), Type.Literal('not_found'), Type.Literal('no_agent')]),
  agentId: Type.Optional(Type.String()),
  agent: Type.Optional(Type.String({ description: 'the agent name' })),
});

/** RegistryCore keeps its NATS connection private; the live view subscribes on the same one. */
/** A cross-site request (a form or script on another origin) may not sign anyone in. */
function crossSite(req: FastifyRequest): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

/**
 * The web dashboard at the API's origin: the built front end (static files, every page by its
 * URL), sign-in to a session cookie, and `GET /v1/live`, the signed-in user's new connections as
 * server-sent events. The page calls only the public REST API.
 */
export async function dashboard(instance: FastifyInstance, opts: DashboardOptions): Promise<void> {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();
  const { core, authenticate } = opts;
  const root = opts.root ?? DEFAULT_DASHBOARD_ROOT;
  const built = existsSync(join(root, 'index.html'));
  const maxStreams = opts.maxLiveStreamsPerUser ?? 8;
  const heartbeatMs = opts.liveHeartbeatMs ?? 15_000;

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('content-security-policy', CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    return payload;
  });

  if (built) {
    await app.register(fastifyStatic, {
      root,
      prefix: '/',
      // one route per built file: unknown paths stay the API's JSON 404
      wildcard: false,
      index: false,
      cacheControl: false,
      setHeaders: (reply, path) => void reply.header('cache-control', path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache'),
    });
  }
  const page = async (_req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    if (!built) return reply.code(503).type('text/plain; charset=utf-8').send(`the dashboard is not built (no ${root}index.html): run npm run build:web\n`);
    return reply.header('cache-control', 'no-cache').sendFile('index.html');
  };
  for (const p of DASHBOARD_PAGES) app.get(p, { schema: { hide: true } }, page);

  const notSignedIn = (): RegistryError => new RegistryError('SLUICE_UNAUTHORIZED', 'not signed in (no session cookie)', 401);

  app.get('/session', {
    schema: { summary: "The dashboard session: who is signed in and the CSRF token for the page's requests", response: { 200: Session, 401: ErrorBody, 429: ErrorBody } },
    onRequest: async (req) => {
      // no cookie is no guess: not counted as a failed authentication
      if (sessionCookie(req) === undefined) throw notSignedIn();
      await authenticate(req);
    },
  }, async (req, reply) => {
    reply.header('cache-control', 'no-store');
    return { name: req.user!.name, admin: req.user!.admin, csrf: csrfFor(sessionCookie(req)!) };
  });

  app.post('/session', {
    schema: {
      summary: 'Sign in: an API token in the Authorization header (Bearer) opens a session (httpOnly, SameSite=Strict cookie)',
      response: { 201: Session, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody },
    },
    onRequest: async (req) => {
      if (crossSite(req)) throw new RegistryError('SLUICE_CSRF', 'sign-in from another site is refused', 403);
      if (!req.headers.authorization) throw new RegistryError('SLUICE_UNAUTHORIZED', 'send the API token as "Authorization: Bearer <API token>"', 401);
      await authenticate(req);
    },
  }, async (req, reply) => {
    const user = req.user!;
    await pruneSessions(core, user.name);
    const { token } = await core.createToken(user.name, SESSION_TOKEN_NAME);
    setSessionCookie(req, reply, token);
    reply.header('cache-control', 'no-store');
    return reply.code(201).send({ name: user.name, admin: user.admin, csrf: csrfFor(token) });
  });

  app.delete('/session', {
    schema: { summary: `Sign out: revokes the session (needs the ${CSRF_HEADER} header) and clears the cookie`, response: { 204: Type.Null(), 403: ErrorBody } },
  }, async (req, reply) => {
    const token = sessionCookie(req);
    if (token !== undefined) {
      checkCsrf(req, token);
      const user = await core.authenticate(token);
      const id = token.split('_')[1];
      if (user && id) await core.revokeToken(user.name, id);
    }
    clearSessionCookie(req, reply);
    return reply.code(204).send(null);
  });

  const feed = new LiveFeed(() => core.nc, core, app.log);
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    // open streams would hold the server open
    for (const end of [...streams]) end();
  });
  app.addHook('onClose', async () => feed.stop());

  app.get('/v1/live', {
    onRequest: authenticate,
    schema: {
      summary: 'Your new connections, live (server-sent events `connection`, data: one LiveConnection as JSON)',
      response: {
        200: { description: 'an event stream', content: { 'text/event-stream': { schema: LiveConnectionSchema } } },
        401: ErrorBody, 429: ErrorBody,
      },
    },
  }, async (req, reply) => {
    const user = req.user!;
    if (feed.listenersOf(user.name) >= maxStreams) throw new RegistryError('SLUICE_RATE_LIMITED', `at most ${maxStreams} live streams per user`, 429);
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const stillValid = async (): Promise<boolean> => {
      try {
        const token = bearer ?? (await sessionCredential(core, req));
        return token !== undefined && (await core.authenticate(token)) !== null;
      } catch (err) {
        if (err instanceof RegistryError) return false;
        throw err;
      }
    };
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // a buffering proxy in front would hold the events back
      'x-accel-buffering': 'no',
    });
    res.write('retry: 3000\n: connected\n\n');
    let dropped = 0;
    const unsubscribe = feed.subscribe(user.name, (c) => {
      // a reader that does not keep up loses events (and is told), never grows our memory
      if (res.writableNeedDrain) {
        dropped++;
        return;
      }
      if (dropped > 0) {
        res.write(`event: dropped\ndata: ${dropped}\n\n`);
        dropped = 0;
      }
      res.write(`event: connection\nid: ${c.connId}\ndata: ${JSON.stringify(c)}\n\n`);
    });
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      clearInterval(beat);
      unsubscribe();
      streams.delete(end);
      if (!res.writableEnded) res.end();
    };
    // a signed-out or expired session, or a revoked token, ends the stream at the next beat
    const beat = setInterval(() => {
      res.write(': ping\n\n');
      stillValid().then(
        (ok) => {
          if (!ok) end();
        },
        (err: unknown) => req.log.warn({ err }, 'live stream: credential re-check failed'),
      );
    }, heartbeatMs);
    beat.unref();
    streams.add(end);
    res.once('close', end);
  });
}
