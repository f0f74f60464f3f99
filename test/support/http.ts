import { request, Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';

export interface Resp {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A request to the edge for `host` (Host header), collecting the whole body. */
export function get(port: number, host: string, path = '/', opts: { method?: string; body?: Buffer | Readable; agent?: Agent } = {}): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: { host }, agent: opts.agent ?? false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body instanceof Readable) opts.body.pipe(req);
    else req.end(opts.body);
  });
}

/** Opens a raw TCP connection, writes `data`, and reads until the server closes (or `timeoutMs`). */
export function raw(port: number, data: Buffer | string, timeoutMs = 5_000): Promise<{ text: string; closed: boolean; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const s: Socket = connect({ host: '127.0.0.1', port });
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text: Buffer.concat(parts).toString('latin1'), closed: false, ms: Date.now() - t0 });
    }, timeoutMs);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(parts).toString('latin1'), closed: true, ms: Date.now() - t0 });
    });
    s.on('error', () => undefined);
    if (data.length > 0) s.write(data);
  });
}

/** GET / over HTTP/2 through the edge's TLS port (passthrough by SNI): the negotiated ALPN and the body. */
export async function h2Get(tlsPort: number, servername: string, ca: Buffer): Promise<{ alpn: string | false | undefined; body: string }> {
  const { connect: h2connect } = await import('node:http2');
  const client = h2connect(`https://127.0.0.1:${tlsPort}`, { ca, servername });
  try {
    const body = await new Promise<string>((resolve, reject) => {
      client.on('error', reject);
      const req = client.request({ ':path': '/' });
      let data = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (data += c));
      req.on('end', () => resolve(data));
      req.on('error', reject);
    });
    return { alpn: client.alpnProtocol, body };
  } finally {
    client.close();
  }
}
