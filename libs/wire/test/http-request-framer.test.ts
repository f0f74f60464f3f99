import { describe, expect, it } from 'vitest';
import {
  HeadTooLargeError,
  HttpFramingError,
  HttpRequestFramer,
  MalformedRequestError,
  UnsupportedTransferEncodingError,
  UnsupportedVersionError,
  WireError,
  type HttpRequestFramerOptions,
} from '../src/index.ts';
import {
  frame,
  frameSegments,
  oneByteSegments,
  splitAt,
  summary,
  type FramingRun,
} from './support/framer-harness.ts';
import { HTTP_FIXTURES, readFixture } from './support/fixtures.ts';

type ErrorClass =
  | typeof HeadTooLargeError
  | typeof MalformedRequestError
  | typeof UnsupportedTransferEncodingError
  | typeof UnsupportedVersionError;

function ok(run: FramingRun): FramingRun {
  if (run.error !== null) throw run.error;
  return run;
}

function expectFramingError(input: string | Buffer, type: ErrorClass, message: string, opts?: HttpRequestFramerOptions): void {
  const run = frame(input, opts);
  expect(run.error).toBeInstanceOf(type);
  expect(run.error).toBeInstanceOf(HttpFramingError);
  expect((run.error as Error).message).toBe(message);
  // The same verdict whatever the segmentation.
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  expect(frameSegments(oneByteSegments(bytes), opts).error).toBeInstanceOf(type);
}

const get = (host: string, extra = ''): string => `GET / HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;

describe('HttpRequestFramer on fixtures', () => {
  it('frames the GET curl sent', () => {
    const run = ok(frame(readFixture('http-curl-get.bin')));
    expect(run.requests).toHaveLength(1);
    const head = run.requests[0]!.head;
    expect(head).toMatchObject({
      method: 'GET',
      target: '/index.html?q=1',
      version: '1.1',
      host: 'plain.example.com',
      bodyKind: 'none',
      contentLength: 0,
      keepAlive: true,
      upgrade: false,
    });
    expect(head.port).toBeGreaterThan(0);
    expect(head.headers.map(([n]) => n)).toEqual(['Host', 'User-Agent', 'Accept']);
    expect(run.framer.inHead).toBe(true);
  });

  it("frames Node's chunked upload with trailers and returns to the next head", () => {
    const bytes = readFixture('http-node-chunked-trailers.bin');
    const run = ok(frame(bytes));
    expect(run.requests).toHaveLength(1);
    const [request] = run.requests;
    expect(request!.head).toMatchObject({ method: 'POST', host: 'upload.example.com', bodyKind: 'chunked' });
    expect(request!.body.toString()).toBe('6\r\nhello \r\n8\r\nchunked \r\n5\r\nworld\r\n0\r\nX-Checksum: abc123\r\n\r\n');
    expect(run.framer.inHead).toBe(true);
    expect(run.framer.heldBytes).toBe(0);
  });

  it('frames a keep-alive pipeline of three requests for three hosts', () => {
    const run = ok(frame(readFixture('http-keepalive-pipeline.bin')));
    expect(run.requests.map((r) => [r.head.host, r.head.port, r.head.bodyKind, r.head.keepAlive, r.body.toString()])).toEqual([
      ['one.example.com', null, 'none', true, ''],
      ['two.example.com', 8443, 'length', true, '{"x":[1,2,3]}'],
      ['three.example.com', null, 'none', false, ''],
    ]);
    expect(run.requests[1]!.head.contentLength).toBe(13);
  });

  it('switches to passthrough after a websocket upgrade', () => {
    const bytes = readFixture('http-websocket-upgrade.bin');
    const run = ok(frame(bytes));
    expect(run.requests).toHaveLength(1);
    expect(run.requests[0]!.head).toMatchObject({ host: 'ws.example.com', upgrade: true, bodyKind: 'none' });
    expect(run.requests[0]!.body).toEqual(Buffer.from([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]));
    expect(run.framer.passthrough).toBe(true);
    expect(run.framer.inHead).toBe(false);
    const junk = Buffer.from('\r\n\n\x00GET / HTTP/9.9\r\n\r\n');
    expect(run.framer.push(junk)).toEqual([{ kind: 'body', data: junk }]);
  });

  const smuggling: Array<[file: string, type: ErrorClass, message: string]> = [
    ['smuggle-cl-te.bin', MalformedRequestError, 'both Content-Length and Transfer-Encoding'],
    ['smuggle-te-obs-fold.bin', MalformedRequestError, 'obs-fold (line folding) in header "Transfer-Encoding" is not allowed'],
    ['smuggle-double-cl.bin', MalformedRequestError, 'conflicting Content-Length values "8" and "7"'],
    ['smuggle-bad-chunk-size.bin', MalformedRequestError, 'invalid chunk size "zz"'],
    ['smuggle-bare-lf.bin', MalformedRequestError, 'bare LF in header line 1'],
    ['smuggle-chunk-ext-bare-lf.bin', MalformedRequestError, 'bare LF in chunk-size line'],
    ['smuggle-te-gzip-chunked.bin', UnsupportedTransferEncodingError, 'unsupported Transfer-Encoding "gzip, chunked"; only a sole "chunked" is supported'],
    ['http2-prior-knowledge-preface.bin', UnsupportedVersionError, 'HTTP/2.0 is not supported; only HTTP/1.0 and HTTP/1.1 are'],
  ];
  for (const [file, type, message] of smuggling) {
    it(`refuses ${file}`, () => expectFramingError(readFixture(file), type, message));
  }

  it('lets no smuggled request through: nothing after the refused bytes is ever emitted', () => {
    const bytes = readFixture('smuggle-bad-chunk-size.bin');
    const run = frameSegments(oneByteSegments(bytes));
    expect(run.requests).toHaveLength(1);
    expect(run.requests[0]!.body.toString()).toBe('5\r\nhello\r\n');
  });

  for (const file of HTTP_FIXTURES) {
    it(`${file}: the same heads, bodies and verdict at every split point and in 1-byte segments`, () => {
      const bytes = readFixture(file);
      const reference = frameSegments(oneByteSegments(bytes));
      for (let k = 1; k < bytes.length; k++) {
        const run = frameSegments(splitAt(bytes, [k]));
        if (reference.error === null) expect(summary(run)).toEqual(summary(reference));
        else expect((run.error as Error).constructor).toBe((reference.error as Error).constructor);
      }
      if (reference.error === null) expect(summary(frame(bytes))).toEqual(summary(reference));
    });
  }
});

describe('HttpRequestFramer behaviour', () => {
  it('emits heads and bodies as views of the pushed chunk', () => {
    const chunk = Buffer.from(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc${get('b')}`);
    const outputs = new HttpRequestFramer().push(chunk);
    expect(outputs.map((o) => o.kind)).toEqual(['head', 'body', 'head']);
    for (const o of outputs) {
      const bytes = o.kind === 'head' ? o.raw : o.data;
      expect(bytes.buffer).toBe(chunk.buffer);
    }
  });

  it('holds a partial head, then emits it whole', () => {
    const framer = new HttpRequestFramer();
    expect(framer.push(Buffer.from('GET / HTTP/1.1\r\nHo'))).toEqual([]);
    expect(framer.heldBytes).toBe(18);
    expect(framer.inHead).toBe(true);
    const outputs = framer.push(Buffer.from('st: a\r\n\r\nGET'));
    expect(outputs).toHaveLength(1);
    const [head] = outputs;
    expect(head?.kind === 'head' && head.raw.toString()).toBe('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(framer.heldBytes).toBe(3);
  });

  it('keeps empty lines before a request line in its raw bytes', () => {
    const run = ok(frame(`\r\n\r\n${get('a')}`));
    expect(run.requests[0]!.raw.toString()).toBe(`\r\n\r\n${get('a')}`);
  });

  it('normalizes Host: lowercase, no trailing dot, port apart; IPv6 keeps brackets', () => {
    expect(ok(frame(get('WWW.Example.COM.:8080'))).requests[0]!.head).toMatchObject({ host: 'www.example.com', port: 8080 });
    expect(ok(frame(get('[2001:DB8::1]:443'))).requests[0]!.head).toMatchObject({ host: '[2001:db8::1]', port: 443 });
    expect(ok(frame(get('192.0.2.7'))).requests[0]!.head).toMatchObject({ host: '192.0.2.7', port: null });
    expect(ok(frame(get('under_score.example'))).requests[0]!.head.host).toBe('under_score.example');
  });

  it('takes the host from an absolute-form target, which Host must agree with', () => {
    const run = ok(frame('GET http://Proxy.Example:8080/x?y HTTP/1.1\r\nHost: proxy.example\r\n\r\n'));
    expect(run.requests[0]!.head).toMatchObject({ host: 'proxy.example', port: 8080, target: 'http://Proxy.Example:8080/x?y' });
    expectFramingError(
      'GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n',
      MalformedRequestError,
      'Host header "b.example" does not match the request-target authority',
    );
  });

  it('allows HTTP/1.0 without Host only when the target is absolute-form', () => {
    const run = ok(frame('GET http://old.example/ HTTP/1.0\r\n\r\n'));
    expect(run.requests[0]!.head).toMatchObject({ host: 'old.example', version: '1.0', keepAlive: false });
    expectFramingError('GET / HTTP/1.0\r\n\r\n', MalformedRequestError, 'missing Host header');
    expect(ok(frame('GET / HTTP/1.0\r\nHost: a\r\n\r\n')).requests[0]!.head.host).toBe('a');
  });

  it('treats CONNECT as an upgrade, with host and port from its target', () => {
    const run = ok(frame('CONNECT db.example:5432 HTTP/1.1\r\nHost: db.example:5432\r\n\r\n\x16\x03\x01'));
    expect(run.requests[0]!.head).toMatchObject({ host: 'db.example', port: 5432, upgrade: true });
    expect(run.requests[0]!.body).toEqual(Buffer.from([0x16, 0x03, 0x01]));
    expect(run.framer.passthrough).toBe(true);
  });

  it('upgrades only with Upgrade plus Connection: upgrade, and never for HTTP/1.0', () => {
    expect(ok(frame(get('a', 'Upgrade: websocket\r\n'))).requests[0]!.head.upgrade).toBe(false);
    expect(ok(frame(get('a', 'Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n'))).requests[0]!.head.upgrade).toBe(true);
    expect(
      ok(frame('GET / HTTP/1.0\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n')).requests[0]!.head.upgrade,
    ).toBe(false);
  });

  it('derives keepAlive from the version and Connection', () => {
    const keepAlive = (s: string): boolean => ok(frame(s)).requests[0]!.head.keepAlive;
    expect(keepAlive(get('a'))).toBe(true);
    expect(keepAlive(get('a', 'Connection: close\r\n'))).toBe(false);
    expect(keepAlive(get('a', 'connection: foo\r\nConnection: CLOSE\r\n'))).toBe(false);
    expect(keepAlive('GET / HTTP/1.0\r\nHost: a\r\n\r\n')).toBe(false);
    expect(keepAlive('GET / HTTP/1.0\r\nHost: a\r\nConnection: Keep-Alive\r\n\r\n')).toBe(true);
  });

  it('frames Content-Length bodies, zero and repeated-identical included', () => {
    const run = ok(
      frame(
        'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n' +
          'POST / HTTP/1.1\r\nHost: b\r\ncontent-length: 4\r\nContent-Length: 4\r\n\r\nbody' +
          get('c'),
      ),
    );
    expect(run.requests.map((r) => [r.head.host, r.head.bodyKind, r.head.contentLength, r.body.toString()])).toEqual([
      ['a', 'length', 0, ''],
      ['b', 'length', 4, 'body'],
      ['c', 'none', 0, ''],
    ]);
  });

  it('frames chunked bodies with extensions, upper-case hex and trailers', () => {
    const body = '1a;name=value;flag\r\nabcdefghijklmnopqrstuvwxyz\r\nA\r\n0123456789\r\n0\r\nX-A: 1\r\nX-B:\r\n\r\n';
    const run = ok(frame(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n${body}${get('b')}`));
    expect(run.requests.map((r) => r.body.toString())).toEqual([body, '']);
    expect(run.requests[1]!.head.host).toBe('b');
  });

  it('keeps header names as received and trims value whitespace', () => {
    const run = ok(frame('GET / HTTP/1.1\r\nhOsT: a\r\nX-Empty:\r\nX-Pad: \t v a l \t\r\n\r\n'));
    expect(run.requests[0]!.head.headers).toEqual([
      ['hOsT', 'a'],
      ['X-Empty', ''],
      ['X-Pad', 'v a l'],
    ]);
  });

  it('rethrows the same error on every push after a failure', () => {
    const framer = new HttpRequestFramer();
    let first: unknown;
    try {
      framer.push(Buffer.from('GET / HTTP/1.1\nHost: a\r\n\r\n'));
    } catch (err) {
      first = err;
    }
    expect(first).toBeInstanceOf(MalformedRequestError);
    expect(() => framer.push(Buffer.from(get('a')))).toThrow(first as Error);
  });

  it('refuses bad options as programming errors', () => {
    expect(() => new HttpRequestFramer({ maxHeadBytes: 0 })).toThrow(RangeError);
    expect(() => new HttpRequestFramer({ maxChunkLineBytes: Number.NaN })).toThrow(RangeError);
  });
});

describe('HttpRequestFramer errors', () => {
  it('carry stable codes, statuses, names and the WireError base', () => {
    const cases: Array<[HttpFramingError, string, number]> = [
      [new HeadTooLargeError('x'), 'SLUICE_HTTP_HEAD_TOO_LARGE', 431],
      [new MalformedRequestError('x'), 'SLUICE_HTTP_MALFORMED_REQUEST', 400],
      [new UnsupportedTransferEncodingError('x'), 'SLUICE_HTTP_UNSUPPORTED_TRANSFER_ENCODING', 501],
      [new UnsupportedVersionError('x'), 'SLUICE_HTTP_UNSUPPORTED_VERSION', 505],
    ];
    for (const [err, code, status] of cases) {
      expect(err).toBeInstanceOf(WireError);
      expect(err.code).toBe(code);
      expect(err.status).toBe(status);
      expect(err.name).toBe(err.constructor.name);
    }
  });

  describe('HeadTooLargeError (431)', () => {
    it('for a complete head over the limit', () => {
      expectFramingError(get('a', `X-Big: ${'x'.repeat(100)}\r\n`), HeadTooLargeError, 'request head exceeds 64 bytes', {
        maxHeadBytes: 64,
      });
    });
    it('for a partial head over the limit, before any line ends', () => {
      expectFramingError(`GET /${'a'.repeat(100)}`, HeadTooLargeError, 'request head exceeds 64 bytes', { maxHeadBytes: 64 });
    });
    it('accepts a head of exactly maxHeadBytes', () => {
      const head = get('a', 'X: 1234567\r\n');
      expect(ok(frame(head, { maxHeadBytes: head.length })).requests).toHaveLength(1);
      expectFramingError(head, HeadTooLargeError, `request head exceeds ${head.length - 1} bytes`, { maxHeadBytes: head.length - 1 });
    });
    it('for a trailer section over the limit', () => {
      expectFramingError(
        `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: ${'t'.repeat(80)}\r\n\r\n`,
        HeadTooLargeError,
        'trailer section exceeds 64 bytes',
        { maxHeadBytes: 64 },
      );
    });
  });

  describe('MalformedRequestError (400)', () => {
    const chunked = (body: string): string => `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${body}`;
    const cases: Array<[what: string, input: string, message: string]> = [
      ['obs-fold', get('a', 'X-A: 1\r\n  continued\r\n'), 'obs-fold (line folding) in header "X-A" is not allowed'],
      ['whitespace before the first field', 'GET / HTTP/1.1\r\n Host: a\r\n\r\n', 'whitespace between the request line and the first header field is not allowed'],
      ['CL and TE', get('a', 'Content-Length: 3\r\nTransfer-Encoding: chunked\r\n'), 'both Content-Length and Transfer-Encoding'],
      ['conflicting CL', get('a', 'Content-Length: 3\r\nContent-Length: 03\r\n'), 'conflicting Content-Length values "3" and "03"'],
      ['signed CL', get('a', 'Content-Length: +3\r\n'), 'invalid Content-Length "+3": expected 1-15 decimal digits'],
      ['CL list', get('a', 'Content-Length: 3, 3\r\n'), 'invalid Content-Length "3, 3": expected 1-15 decimal digits'],
      ['empty CL', get('a', 'Content-Length:\r\n'), 'invalid Content-Length "": expected 1-15 decimal digits'],
      ['16-digit CL', get('a', 'Content-Length: 1000000000000000\r\n'), 'invalid Content-Length "1000000000000000": expected 1-15 decimal digits'],
      ['bare CR in the request line', 'GET /\r HTTP/1.1\r\nHost: a\r\n\r\n', 'bare CR in request line'],
      ['bare CR in a field value', get('a', 'X-A: 1\r2\r\n'), 'bare CR in header "X-A"'],
      ['bare CR in a field name', get('a', 'X-A\r: 1\r\n'), 'bare CR in header line 2'],
      ['bare LF ending the request line', 'GET / HTTP/1.1\nHost: a\r\n\r\n', 'bare LF in request line'],
      ['bare LF ending the head', 'GET / HTTP/1.1\r\nHost: a\r\n\n', 'bare LF in header line 2'],
      ['missing Host', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', 'missing Host header'],
      ['multiple Host', get('a', 'host: b\r\n'), 'multiple Host headers'],
      ['invalid header name', get('a', 'Bad@Name: 1\r\n'), "invalid header name: '@' (0x40) at position 3 of header line 2"],
      ['non-ASCII header name', get('a', 'N\xe4me: 1\r\n'), 'invalid header name: 0xe4 at position 1 of header line 2'],
      ['empty header name', get('a', ': 1\r\n'), 'invalid header name: empty name in header line 2'],
      ['whitespace before colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', 'whitespace between header name "Host" and colon is not allowed'],
      ['no colon', get('a', 'NoColon\r\n'), 'header line 2 has no colon'],
      ['NUL in a value', get('a', 'X-A: a\x00b\r\n'), 'invalid character 0x00 in header "X-A" value'],
      ['DEL in a value', get('a', 'X-A: a\x7fb\r\n'), 'invalid character 0x7f in header "X-A" value'],
      ['double space in the request line', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n', 'invalid request line: empty request-target or extra space'],
      ['lower-case version', 'GET / http/1.1\r\nHost: a\r\n\r\n', 'invalid request line: HTTP-version is not HTTP/<digit>.<digit>'],
      ['trailing space', 'GET / HTTP/1.1 \r\nHost: a\r\n\r\n', 'invalid request line: HTTP-version is not HTTP/<digit>.<digit>'],
      ['control byte in the target', 'GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n', 'invalid request line: invalid character in request-target'],
      ['method not a token', 'G(T / HTTP/1.1\r\nHost: a\r\n\r\n', 'invalid request line: method not followed by one space'],
      ['binary junk, refused at its first byte', '\x16\x03\x01\x02\x00', 'invalid request line: starts with 0x16'],
      ['Host with a bad character', get('a/b'), 'invalid Host header "a/b": invalid character \'/\' (0x2f) at position 1'],
      ['Host with port 0', get('a:0'), 'invalid Host header "a:0": port must be 1-65535 without sign or leading zeros'],
      ['Host with port 65536', get('a:65536'), 'invalid Host header "a:65536": port must be 1-65535 without sign or leading zeros'],
      ['Host with a leading-zero port', get('a:080'), 'invalid Host header "a:080": port must be 1-65535 without sign or leading zeros'],
      ['Host with an empty port', get('a:'), 'invalid Host header "a:": port must be 1-65535 without sign or leading zeros'],
      ['Host with two ports', get('a:1:2'), 'invalid Host header "a:1:2": port must be 1-65535 without sign or leading zeros'],
      ['empty Host', get(''), 'empty Host header'],
      ['Host list', get('a, b'), 'invalid Host header "a, b": invalid character \',\' (0x2c) at position 1'],
      ['bad IPv6 literal', get('[::g]'), 'invalid Host header "[::g]": bad IPv6 literal'],
      ['unclosed IPv6 literal', get('[::1'), 'invalid Host header "[::1": unclosed \'[\''],
      ['over-long label', get(`${'a'.repeat(64)}.example`), `invalid Host header "${'a'.repeat(64)}...": label longer than 63 characters at position 0`],
      ['userinfo', 'GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n', 'userinfo in the request-target is not allowed'],
      ['unsupported scheme', 'GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n', 'unsupported scheme "ftp" in absolute-form request-target'],
      ['unknown target form', 'GET a.example HTTP/1.1\r\nHost: a\r\n\r\n', 'invalid request-target "a.example": not origin-form or absolute-form'],
      ['asterisk-form for GET', 'GET * HTTP/1.1\r\nHost: a\r\n\r\n', 'asterisk-form request-target is only allowed for OPTIONS, not "GET"'],
      ['CONNECT without port', 'CONNECT a.example HTTP/1.1\r\nHost: a.example\r\n\r\n', 'invalid CONNECT target "a.example": a port is required'],
      ['TE in HTTP/1.0', 'POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', 'Transfer-Encoding is not allowed in an HTTP/1.0 request'],
      ['empty TE', get('a', 'Transfer-Encoding: \r\n'), 'empty Transfer-Encoding'],
      ['non-hex chunk size', chunked('zz\r\n'), 'invalid chunk size "zz"'],
      ['empty chunk size', chunked('\r\n'), 'invalid chunk size ""'],
      ['negative chunk size', chunked('-1\r\n'), 'invalid chunk size "-1"'],
      ['0x-prefixed chunk size', chunked('0x10\r\n'), "invalid character 'x' (0x78) after chunk size \"0\""],
      ['space after chunk size', chunked('5 \r\nhello\r\n0\r\n\r\n'), 'invalid character 0x20 after chunk size "5"'],
      ['17 hex digits', chunked('00000000000000001\r\n'), 'chunk size has more than 16 hex digits'],
      ['chunk size overflow', chunked('fffffffffffffff\r\n'), 'chunk size "ffffffffffffff" is larger than 9007199254740991'],
      ['bare CR after chunk size', chunked('5\rhello'), 'bare CR in chunk-size line'],
      ['bare LF after chunk size', chunked('5\nhello'), 'bare LF in chunk-size line'],
      ['control byte in a chunk extension', chunked('5;a\x00\r\n'), 'invalid character 0x00 in chunk extension'],
      ['chunk data too long', chunked('5\r\nhello!\r\n'), "chunk data not followed by CRLF: expected CR after 5-byte chunk, got '!' (0x21)"],
      ['chunk data ended by LF', chunked('5\r\nhello\n'), 'chunk data not followed by CRLF: expected CR after 5-byte chunk, got 0x0a'],
      ['chunk data ended by CR only', chunked('5\r\nhello\r0\r\n'), "chunk data not followed by CRLF: expected LF after 5-byte chunk, got '0' (0x30)"],
      ['obs-fold in trailers', chunked('0\r\nX-T: 1\r\n 2\r\n\r\n'), 'obs-fold (line folding) in trailer section is not allowed'],
      ['bare LF in trailers', chunked('0\r\nX-T: 1\n\r\n'), 'bare LF in trailer section'],
      ['bare LF ending trailers', chunked('0\r\n\n'), 'bare LF in trailer section'],
      ['bare CR ending trailers', chunked('0\r\n\rX'), 'bare CR in trailer section'],
      ['whitespace before a trailer colon', chunked('0\r\nX-T : 1\r\n\r\n'), 'whitespace between trailer name and colon is not allowed'],
      ['trailer without colon', chunked('0\r\nX-T\r\n\r\n'), 'trailer line has no colon'],
      ['bad trailer name', chunked('0\r\n@: 1\r\n\r\n'), "invalid trailer name: starts with '@' (0x40)"],
      ['control byte in a trailer value', chunked('0\r\nX-T: \x01\r\n\r\n'), 'invalid character 0x01 in trailer value'],
    ];
    for (const [what, input, message] of cases) {
      it(what, () => expectFramingError(input, MalformedRequestError, message));
    }

    it('over-long chunk-size line', () => {
      expectFramingError(chunked(`5;${'e'.repeat(40)}\r\n`), MalformedRequestError, 'chunk-size line exceeds 32 bytes', {
        maxChunkLineBytes: 32,
      });
    });
  });

  describe('UnsupportedTransferEncodingError (501)', () => {
    const cases: Array<[string, string]> = [
      ['Transfer-Encoding: gzip\r\n', '"gzip"'],
      ['Transfer-Encoding: chunked, gzip\r\n', '"chunked, gzip"'],
      ['Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '"chunked, chunked"'],
      ['Transfer-Encoding: identity\r\n', '"identity"'],
      ['Transfer-Encoding: chunked;q=1\r\n', '"chunked;q=1"'],
    ];
    for (const [field, shown] of cases) {
      it(`for ${shown}`, () => {
        expectFramingError(
          `POST / HTTP/1.1\r\nHost: a\r\n${field}\r\n`,
          UnsupportedTransferEncodingError,
          `unsupported Transfer-Encoding ${shown}; only a sole "chunked" is supported`,
        );
      });
    }
  });

  describe('UnsupportedVersionError (505)', () => {
    it('for the HTTP/2 connection preface', () => {
      expectFramingError('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', UnsupportedVersionError, 'HTTP/2.0 is not supported; only HTTP/1.0 and HTTP/1.1 are');
    });
    it('for an HTTP/0.9 request, as soon as its line ends', () => {
      expectFramingError('GET /index.html\r\n', UnsupportedVersionError, 'HTTP/0.9 request (request line has no HTTP-version) is not supported');
    });
    it('for HTTP/1.2 and HTTP/3.0', () => {
      expectFramingError(get('a').replace('1.1', '1.2'), UnsupportedVersionError, 'HTTP/1.2 is not supported; only HTTP/1.0 and HTTP/1.1 are');
      expectFramingError(get('a').replace('1.1', '3.0'), UnsupportedVersionError, 'HTTP/3.0 is not supported; only HTTP/1.0 and HTTP/1.1 are');
    });
  });
});
