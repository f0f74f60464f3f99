import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { pipeline, type Readable, type Writable } from 'node:stream';
import { patternStream, sha256OfStream } from '@sluice/testing';
import type { Logger } from 'pino';

/** What the handler needs of a request: node:http's IncomingMessage and http2's compat request both fit. */
export type DemoRequest = Readable & {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly httpVersion: string;
  readonly httpVersionMajor: number;
};

/** What the handler needs of a response: node:http's ServerResponse and http2's compat response both fit. */
export type DemoResponse = Writable & {
  writeHead(statusCode: number, headers?: OutgoingHttpHeaders): unknown;
  setHeader(name: string, value: number | string | readonly string[]): unknown;
  readonly headersSent: boolean;
};

export interface DemoRoutesDeps {
  logger: Logger;
  /** Whether this handler serves the TLS port (shown on the hello page). */
  tls: boolean;
  /** Open SSE streams; `stop()` ends them, since they never finish by themselves. */
  liveStreams: Set<() => void>;
}

const MAX_SIZE_BYTES = 64 * 1024 * 1024;
const SIZE_CACHE_ENTRIES = 16;
const SSE_INTERVAL_MS = 100;

class BadRequest extends Error {
  readonly code = 'SLUICE_DEMO_BAD_REQUEST';
}

function integerParam(params: URLSearchParams, name: string, options: { max: number; fallback?: number }): number {
  const raw = params.get(name);
  if (raw === null) {
    if (options.fallback !== undefined) return options.fallback;
    throw new BadRequest(`query parameter ${name} is required (a decimal integer 0..${options.max})`);
  }
  const value = /^\d{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value > options.max) {
    throw new BadRequest(`query parameter ${name} must be a decimal integer 0..${options.max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function protocolOf(req: DemoRequest): string {
  return req.httpVersionMajor === 2 ? 'HTTP/2' : `HTTP/${req.httpVersion}`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function sendJson(res: DemoResponse, status: number, body: unknown): void {
  const payload = Buffer.from(`${JSON.stringify(body)}\n`);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': payload.length });
  res.end(payload);
}

function sendError(res: DemoResponse, status: number, error: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { error, message });
}

/**
 * The demo upstream's routes, identical behind the HTTP and the HTTPS (h2 + HTTP/1.1) port. Every
 * streaming route goes through `pipeline`, so a slow reader slows the writer and a client that goes
 * away tears the stream down.
 */
export function createDemoRoutes(deps: DemoRoutesDeps): (req: DemoRequest, res: DemoResponse) => void {
  const { logger } = deps;
  const sizeBodies = new Map<number, Buffer>();

  const logStreamEnd = (route: string) => (error: NodeJS.ErrnoException | null) => {
    if (error) logger.debug({ route, err: error.code ?? error.message }, 'demo.stream_aborted');
  };

  const hello = (req: DemoRequest, res: DemoResponse): void => {
    const host = req.headers[':authority'] ?? req.headers.host ?? '';
    const forwardedFor = req.headers['x-forwarded-for'];
    const lines = [
      '<!doctype html>',
      '<html><head><meta charset="utf-8"><title>Sluice demo upstream</title></head><body>',
      '<h1>Hello from the Sluice demo upstream</h1>',
      `<p>Host: <code id="host">${escapeHtml(String(host))}</code></p>`,
      `<p>Protocol: <code id="protocol">${protocolOf(req)}</code></p>`,
      `<p>TLS: <code id="tls">${deps.tls ? 'yes' : 'no'}</code></p>`,
      ...(forwardedFor === undefined ? [] : [`<p>X-Forwarded-For: <code>${escapeHtml(String(forwardedFor))}</code></p>`]),
      '</body></html>',
      '',
    ];
    const body = Buffer.from(lines.join('\n'));
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': body.length });
    res.end(body);
  };

  const bytes = (res: DemoResponse, params: URLSearchParams): void => {
    const n = integerParam(params, 'n', { max: Number.MAX_SAFE_INTEGER });
    const seed = integerParam(params, 'seed', { max: 0xffff_ffff, fallback: 1 });
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
    pipeline(patternStream(n, seed), res, logStreamEnd('/bytes'));
  };

  const upload = (req: DemoRequest, res: DemoResponse): void => {
    sha256OfStream(req).then(
      (digest) => sendJson(res, 200, digest),
      (error: unknown) => {
        logger.debug({ route: '/upload', err: (error as Error).message }, 'demo.stream_aborted');
        res.destroy();
      },
    );
  };

  const echo = (req: DemoRequest, res: DemoResponse): void => {
    const headers: OutgoingHttpHeaders = {
      'content-type': req.headers['content-type'] ?? 'application/octet-stream',
    };
    const length = req.headers['content-length'];
    if (length !== undefined) headers['content-length'] = length;
    res.writeHead(200, headers);
    pipeline(req, res, logStreamEnd('/echo'));
  };

  const sse = (req: DemoRequest, res: DemoResponse): void => {
    const headers: OutgoingHttpHeaders = {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    };
    // Connection-specific headers are illegal in HTTP/2.
    if (req.httpVersionMajor === 1) headers['connection'] = 'keep-alive';
    res.writeHead(200, headers);
    let sequence = 0;
    const tick = (): void => {
      // A reader that cannot keep up misses ticks instead of growing our buffer.
      if (!res.writableNeedDrain) {
        res.write(`id: ${sequence}\nevent: tick\ndata: ${JSON.stringify({ n: sequence, at: new Date().toISOString() })}\n\n`);
      }
      sequence += 1;
    };
    tick();
    const timer = setInterval(tick, SSE_INTERVAL_MS);
    const finish = (): void => {
      clearInterval(timer);
      deps.liveStreams.delete(finish);
      if (!res.writableEnded && !res.destroyed) res.end();
    };
    deps.liveStreams.add(finish);
    res.once('close', finish);
  };

  const size = (res: DemoResponse, params: URLSearchParams): void => {
    const n = integerParam(params, 'n', { max: MAX_SIZE_BYTES });
    let body = sizeBodies.get(n);
    if (body === undefined) {
      body = Buffer.alloc(n, 'x');
      if (sizeBodies.size >= SIZE_CACHE_ENTRIES) sizeBodies.clear();
      sizeBodies.set(n, body);
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': n });
    res.end(body);
  };

  const routes: Record<string, { method: 'GET' | 'POST'; handle: (req: DemoRequest, res: DemoResponse, params: URLSearchParams) => void }> = {
    '/': { method: 'GET', handle: hello },
    '/bytes': { method: 'GET', handle: (_req, res, params) => bytes(res, params) },
    '/upload': { method: 'POST', handle: upload },
    '/echo': { method: 'POST', handle: echo },
    '/sse': { method: 'GET', handle: sse },
    '/headers': { method: 'GET', handle: (req, res) => sendJson(res, 200, req.headers) },
    '/size': { method: 'GET', handle: (_req, res, params) => size(res, params) },
  };

  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://demo.invalid');
    const route = Object.hasOwn(routes, url.pathname) ? routes[url.pathname] : undefined;
    if (route === undefined) {
      req.resume();
      sendError(res, 404, 'not_found', `no route ${url.pathname}; try /, /bytes, /upload, /echo, /sse, /headers, /size, /ws`);
      return;
    }
    if (req.method !== route.method) {
      req.resume();
      res.setHeader('allow', route.method);
      sendError(res, 405, 'method_not_allowed', `${url.pathname} accepts ${route.method}, got ${req.method ?? '?'}`);
      return;
    }
    try {
      route.handle(req, res, url.searchParams);
    } catch (error) {
      req.resume();
      if (error instanceof BadRequest) {
        sendError(res, 400, 'bad_request', error.message);
        return;
      }
      logger.error({ err: error, route: url.pathname }, 'demo.handler_failed');
      sendError(res, 500, 'internal', 'the demo handler failed; see its log');
    }
  };
}
