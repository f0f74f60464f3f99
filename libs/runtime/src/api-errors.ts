import type { FastifyReply, FastifyRequest } from 'fastify';

/** An error a REST API throws on purpose: its HTTP status, a stable code and the message. */
export interface KnownApiError {
  status: number;
  code: string;
  message: string;
}

type RequestError = Error & { statusCode?: number; code?: string; validation?: unknown; validationContext?: string };

/** What `installJsonErrors` needs of a fastify instance (any type provider). */
interface ErrorHandlingApp {
  setErrorHandler(handler: (err: RequestError, req: FastifyRequest, reply: FastifyReply) => unknown): unknown;
  setNotFoundHandler(handler: (req: FastifyRequest, reply: FastifyReply) => unknown): unknown;
}

export interface JsonErrorOptions {
  /** The service's own errors (RegistryError, TunnelApiError, …), else undefined. */
  known(err: Error): KnownApiError | undefined;
  /** The message of a schema validation failure; default: fastify's, prefixed by the part of the request. */
  validationMessage?: (context: string, err: RequestError) => string;
}

const CODE_BY_STATUS: Record<number, string> = { 413: 'SLUICE_BODY_TOO_LARGE', 415: 'SLUICE_UNSUPPORTED_MEDIA_TYPE', 429: 'SLUICE_RATE_LIMITED' };

/**
 * Every error of a Sluice REST API as `{error: {code, message}}`: the service's own errors with
 * their status, schema failures as 400 with the field that failed, other 4xx with a code by status,
 * unknown routes as 404 naming the route; anything else is logged and answered 500 without detail.
 */
export function installJsonErrors(app: ErrorHandlingApp, opts: JsonErrorOptions): void {
  app.setErrorHandler((err, req, reply) => {
    const known = opts.known(err);
    if (known) return reply.code(known.status).send({ error: { code: known.code, message: known.message } });
    if (err.validation) {
      const context = err.validationContext ?? 'request';
      const message = opts.validationMessage?.(context, err) ?? `${context}${err.message.replace(/^(body|params|querystring|headers)/, '')}`;
      return reply.code(400).send({ error: { code: 'SLUICE_INVALID_REQUEST', message } });
    }
    const status = err.statusCode ?? 500;
    if (status === 415) {
      return reply.code(415).send({ error: { code: CODE_BY_STATUS[415], message: `content-type must be application/json (got ${JSON.stringify(req.headers['content-type'] ?? '')})` } });
    }
    if (status >= 400 && status < 500) return reply.code(status).send({ error: { code: CODE_BY_STATUS[status] ?? 'SLUICE_INVALID_REQUEST', message: err.message } });
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: { code: 'SLUICE_INTERNAL', message: 'internal error; it was logged' } });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: { code: 'SLUICE_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } }));
}
