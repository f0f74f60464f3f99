import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect as connectH2, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import { get as httpsGet } from 'node:https';
import { pipeline } from 'node:stream/promises';
import { patternDigest, patternStream, sha256OfStream } from '@sluice/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createDemoUpstream, demoCertPaths, type DemoUpstream } from '../src/index.ts';

const MiB = 1024 * 1024;
const ca = readFileSync(demoCertPaths.ca);

let demo: DemoUpstream;
let http: string;
let httpsPort: number;

beforeAll(async () => {
  demo = createDemoUpstream({ httpPort: 0, httpsPort: 0 });
  await demo.start();
  http = `http://127.0.0.1:${demo.address().http}`;
  httpsPort = demo.address().https;
});
afterAll(async () => {
  await demo.stop();
});

function post(url: string, body: NodeJS.ReadableStream): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream' } }, resolve);
    req.once('error', reject);
    pipeline(body, req).catch(reject);
  });
}

async function h2Request(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body?: NodeJS.ReadableStream,
): Promise<{ status: number; body: Buffer }> {
  const stream = session.request(headers, { endStream: body === undefined });
  if (body !== undefined) await pipeline(body, stream, { end: true }).catch(() => undefined);
  const [responseHeaders] = (await once(stream, 'response')) as [Record<string, unknown>];
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return { status: Number(responseHeaders[':status']), body: Buffer.concat(chunks) };
}

describe('demo upstream over HTTP/1.1', () => {
  it('says hello with the Host header and protocol', async () => {
    const res = await fetch(`${http}/`);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(text).toContain(`<code id="host">127.0.0.1:${demo.address().http}</code>`);
    expect(text).toContain('<code id="protocol">HTTP/1.1</code>');
    expect(text).toContain('<code id="tls">no</code>');
  });

  it('streams 64 MiB of pattern bytes that hash like patternStream', async () => {
    const size = 64 * MiB;
    const res = await fetch(`${http}/bytes?n=${size}&seed=7`);
    expect(res.headers.get('content-length')).toBe(String(size));
    expect(res.body).not.toBeNull();
    const received = await sha256OfStream(res.body as AsyncIterable<Uint8Array>);
    expect(received).toEqual(await patternDigest(size, 7));
  });

  it('announces sizes beyond 2^31 and survives a client that leaves early', async () => {
    const size = 2 ** 31 + 5;
    const controller = new AbortController();
    const res = await fetch(`${http}/bytes?n=${size}`, { signal: controller.signal });
    expect(res.headers.get('content-length')).toBe(String(size));
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(first.value?.length).toBeGreaterThan(0);
    controller.abort();
    expect((await fetch(`${http}/size?n=3`)).status).toBe(200);
  });

  it('digests an upload', async () => {
    const res = await post(`${http}/upload`, patternStream(16 * MiB + 3, 11));
    expect(res.statusCode).toBe(200);
    const body = JSON.parse(Buffer.concat(await res.toArray()).toString()) as unknown;
    expect(body).toEqual(await patternDigest(16 * MiB + 3, 11));
  });

  it('echoes a streamed body back', async () => {
    const res = await post(`${http}/echo`, patternStream(16 * MiB, 12));
    expect(res.statusCode).toBe(200);
    expect(await sha256OfStream(res)).toEqual(await patternDigest(16 * MiB, 12));
  });

  it('serves server-sent events every 100 ms until the client leaves', async () => {
    const controller = new AbortController();
    const started = performance.now();
    const res = await fetch(`${http}/sse`, { signal: controller.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      if ((text.match(/^event: tick$/gm) ?? []).length >= 3) break;
    }
    controller.abort();
    expect(text).toMatch(/^id: 0\nevent: tick\ndata: \{"n":0,/);
    expect(text).toContain('id: 2\n');
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
  });

  it('returns request headers, sized bodies and precise errors', async () => {
    const headers = (await (await fetch(`${http}/headers`, { headers: { 'x-sluice-test': 'yes' } })).json()) as Record<string, string>;
    expect(headers['x-sluice-test']).toBe('yes');

    const sized = await fetch(`${http}/size?n=1024`);
    expect(sized.headers.get('content-length')).toBe('1024');
    expect(await sized.text()).toBe('x'.repeat(1024));

    expect((await fetch(`${http}/nope`)).status).toBe(404);
    const wrongMethod = await fetch(`${http}/upload`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    const bad = await fetch(`${http}/bytes?n=-1`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'bad_request' });
  });

  it('echoes WebSocket text and binary messages', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${demo.address().http}/ws`);
    await once(ws, 'open');
    ws.send('hello');
    const [text, textIsBinary] = (await once(ws, 'message')) as [Buffer, boolean];
    expect(text.toString()).toBe('hello');
    expect(textIsBinary).toBe(false);
    const payload = Buffer.from([0, 1, 2, 255]);
    ws.send(payload);
    const [binary, binaryIsBinary] = (await once(ws, 'message')) as [Buffer, boolean];
    expect(Buffer.compare(binary, payload)).toBe(0);
    expect(binaryIsBinary).toBe(true);
    ws.close();
    await once(ws, 'close');
  });

  it('refuses upgrades on other paths', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${demo.address().http}/elsewhere`);
    const [error] = (await once(ws, 'error')) as [Error];
    expect(error.message).toMatch(/404/);
  });
});

describe('demo upstream over TLS', () => {
  it('negotiates h2 with ALPN and serves the same routes', async () => {
    const session = connectH2(`https://localhost:${httpsPort}`, { ca });
    try {
      await once(session, 'connect');
      expect(session.alpnProtocol).toBe('h2');
      const hello = await h2Request(session, { ':path': '/' });
      expect(hello.status).toBe(200);
      expect(hello.body.toString()).toContain('<code id="protocol">HTTP/2</code>');
      expect(hello.body.toString()).toContain(`<code id="host">localhost:${httpsPort}</code>`);
      expect(hello.body.toString()).toContain('<code id="tls">yes</code>');

      const download = await h2Request(session, { ':path': `/bytes?n=${8 * MiB}&seed=3` });
      expect(await sha256OfStream([download.body])).toEqual(await patternDigest(8 * MiB, 3));

      const upload = await h2Request(session, { ':method': 'POST', ':path': '/upload' }, patternStream(4 * MiB, 4));
      expect(JSON.parse(upload.body.toString())).toEqual(await patternDigest(4 * MiB, 4));
    } finally {
      session.close();
    }
  });

  it('still serves HTTP/1.1 clients on the TLS port', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const options = { ca, servername: 'demo.sluice.localhost', headers: { host: `demo.sluice.localhost:${httpsPort}` } };
      httpsGet(`https://127.0.0.1:${httpsPort}/`, options, (res) => {
        res.setEncoding('utf8');
        let text = '';
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(text));
      }).once('error', reject);
    });
    expect(body).toContain('<code id="protocol">HTTP/1.1</code>');
    expect(body).toContain(`<code id="host">demo.sluice.localhost:${httpsPort}</code>`);
  });

  it('echoes WebSocket messages over TLS', async () => {
    const ws = new WebSocket(`wss://localhost:${httpsPort}/ws`, { ca });
    await once(ws, 'open');
    ws.send('secure');
    const [message] = (await once(ws, 'message')) as [Buffer];
    expect(message.toString()).toBe('secure');
    ws.close();
    await once(ws, 'close');
  });
});
