import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import {
  ClientHelloTooLargeError,
  MalformedClientHelloError,
  NotTlsError,
  parseClientHello,
  WireError,
  type ClientHelloResult,
} from '../src/index.ts';
import {
  alpn,
  buildClientHello,
  ext,
  handshakeMessage,
  records,
  sni,
  u16,
  u8,
  vec16,
  vec8,
} from './support/client-hello-builder.ts';
import { loadClientHelloFixtures } from './support/fixtures.ts';

const fixtures = loadClientHelloFixtures();

function complete(result: ClientHelloResult): Extract<ClientHelloResult, { status: 'complete' }> {
  if (result.status !== 'complete') throw new Error('expected a complete ClientHello');
  return result;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

function expectError(
  buf: Buffer,
  type: typeof NotTlsError | typeof MalformedClientHelloError | typeof ClientHelloTooLargeError,
  message: string,
  maxBytes?: number,
): void {
  const err = thrown(() => parseClientHello(buf, maxBytes === undefined ? undefined : { maxBytes }));
  expect(err).toBeInstanceOf(type);
  expect(err).toBeInstanceOf(WireError);
  expect((err as Error).message).toBe(message);
}

describe('parseClientHello on captured ClientHellos', () => {
  it('has the captures the brief asks for', () => {
    const files = fixtures.map((f) => f.file);
    expect(files).toEqual(
      expect.arrayContaining([
        'hello-node-tls-sni-alpn.bin',
        'hello-curl-default.bin',
        'hello-curl-http2.bin',
        'hello-openssl-s_client.bin',
        'hello-node-tls-no-sni.bin',
        'hello-openssl-tls13-ffdhe8192-keyshare.bin',
        'hello-openssl-tls13-multi-record.bin',
      ]),
    );
  });

  for (const f of fixtures) {
    describe(f.file, () => {
      it('reports what OpenSSL reports for the same bytes', () => {
        const result = complete(parseClientHello(f.bytes));
        expect(result.serverName).toBe(f.expectedServerName);
        expect(result.alpn).toEqual(f.openssl.alpn);
        expect(result.bytes).toBe(f.bytes.length);
      });

      it('is incomplete at every shorter prefix (every split point, and 1-byte segments)', () => {
        for (let k = 0; k < f.bytes.length; k++) {
          const r = parseClientHello(f.bytes.subarray(0, k));
          if (r.status !== 'incomplete') throw new Error(`prefix of ${k} bytes: ${JSON.stringify(r)}`);
        }
      });

      it('gives the same result when split into two segments at every offset', () => {
        for (let k = 1; k < f.bytes.length; k++) {
          // What the edge does: keep what it has, append the next segment, ask again.
          const first = Buffer.from(f.bytes.subarray(0, k));
          expect(parseClientHello(first).status).toBe('incomplete');
          const joined = Buffer.concat([first, f.bytes.subarray(k)]);
          expect(complete(parseClientHello(joined)).serverName).toBe(f.expectedServerName);
        }
      });

      it('ignores what follows the hello and never looks past maxBytes', () => {
        const trailing = Buffer.concat([f.bytes, Buffer.from([20, 3, 3, 0, 1, 1]), Buffer.alloc(100, 0xee)]);
        expect(complete(parseClientHello(trailing))).toEqual(complete(parseClientHello(f.bytes)));
        const exact = complete(parseClientHello(trailing, { maxBytes: f.bytes.length }));
        expect(exact.bytes).toBe(f.bytes.length);
        expect(() => parseClientHello(trailing, { maxBytes: f.bytes.length - 1 })).toThrow(ClientHelloTooLargeError);
      });
    });
  }

  it('reassembles the hello OpenSSL split over three records', () => {
    const f = fixtures.find((x) => x.file === 'hello-openssl-tls13-multi-record.bin')!;
    expect(f.bytes.readUInt16BE(3)).toBe(512);
    expect(f.bytes[5 + 512]).toBe(22);
    expect(complete(parseClientHello(f.bytes)).serverName).toBe('fragmented.example.com');
  });
});

describe('parseClientHello on live clients', () => {
  /** Feeds each TCP segment as it arrives, like the edge, until the parser is done. */
  async function parseLive(connect: (port: number) => void): Promise<{ result: ClientHelloResult; segments: number }> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      return await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no complete ClientHello within 10 s')), 10_000);
        server.once('connection', (socket) => {
          let received = Buffer.alloc(0);
          let segments = 0;
          socket.on('data', (segment: Buffer) => {
            received = Buffer.concat([received, segment]);
            segments++;
            try {
              const result = parseClientHello(received);
              if (result.status === 'complete') {
                clearTimeout(timer);
                socket.destroy();
                resolve({ result, segments });
              }
            } catch (err) {
              clearTimeout(timer);
              socket.destroy();
              reject(err);
            }
          });
        });
        connect(port);
      });
    } finally {
      server.close();
    }
  }

  function hasTool(cmd: string): boolean {
    return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0 || spawnSync(cmd, ['version'], { stdio: 'ignore' }).status === 0;
  }

  function runDetached(cmd: string, args: string[]): void {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    child.on('error', () => undefined);
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  }

  it('reads SNI and ALPN from node tls.connect', async () => {
    const { result } = await parseLive((port) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'Live.Example.Com', ALPNProtocols: ['h2', 'http/1.1'] });
      socket.on('error', () => undefined);
    });
    expect(complete(result).serverName).toBe('live.example.com');
    expect(complete(result).alpn).toEqual(['h2', 'http/1.1']);
  });

  it.skipIf(!hasTool('curl'))('reads SNI and ALPN from curl', async () => {
    const { result } = await parseLive((port) =>
      runDetached('curl', ['-sk', '--resolve', `curl.example.com:${port}:127.0.0.1`, `https://curl.example.com:${port}/`]),
    );
    expect(complete(result).serverName).toBe('curl.example.com');
    expect(complete(result).alpn).toContain('http/1.1');
  });

  it.skipIf(!hasTool('openssl'))('reassembles a multi-record hello from openssl s_client live', async () => {
    const { result } = await parseLive((port) =>
      runDetached('openssl', [
        's_client', '-connect', `127.0.0.1:${port}`, '-servername', 'multi.example.com',
        '-max_send_frag', '512', '-groups', 'ffdhe8192:X25519', '-tls1_3',
      ]),
    );
    expect(complete(result).serverName).toBe('multi.example.com');
  });
});

describe('parseClientHello results', () => {
  it('is incomplete on an empty buffer and on a partial record header', () => {
    expect(parseClientHello(Buffer.alloc(0))).toEqual({ status: 'incomplete' });
    expect(parseClientHello(Buffer.from([22]))).toEqual({ status: 'incomplete' });
    expect(parseClientHello(Buffer.from([22, 3, 1, 0]))).toEqual({ status: 'incomplete' });
  });

  it('lowercases the SNI and strips one trailing dot', () => {
    expect(complete(parseClientHello(buildClientHello({ extensions: [sni('WWW.Example.COM.')] }))).serverName).toBe(
      'www.example.com',
    );
  });

  it('accepts underscores, digits, hyphens and a 253-character name of 63-character labels', () => {
    const name = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d_-9'.repeat(15)}x`;
    expect(name.length).toBe(253);
    expect(complete(parseClientHello(buildClientHello({ extensions: [sni(`${name}.`)] }))).serverName).toBe(name);
  });

  it('returns null SNI and empty ALPN for a hello without an extensions block', () => {
    const result = complete(parseClientHello(buildClientHello({ extensions: null })));
    expect(result).toEqual({ status: 'complete', serverName: null, alpn: [], bytes: result.bytes });
  });

  it('reads ALPN in client order and ignores unknown extensions', () => {
    const hello = buildClientHello({
      extensions: [ext(0x0a0a, []), ext(0x0015, Buffer.alloc(300)), alpn('h2', 'http/1.1'), sni('a.example')],
    });
    expect(complete(parseClientHello(hello))).toMatchObject({ serverName: 'a.example', alpn: ['h2', 'http/1.1'] });
  });

  it('reassembles a hello split into 1-byte records, handshake header included', () => {
    const message = handshakeMessage({ extensions: [sni('tiny.example')] });
    const hello = records(message, { recordSizes: Array(message.length).fill(1) });
    const result = complete(parseClientHello(hello));
    expect(result.serverName).toBe('tiny.example');
    expect(result.bytes).toBe(message.length * 6);
  });

  it('stops at the last record of the hello: bytes excludes a following CCS record', () => {
    const hello = buildClientHello();
    const result = complete(parseClientHello(Buffer.concat([hello, Buffer.from([20, 3, 3, 0, 1, 1])])));
    expect(result.bytes).toBe(hello.length);
  });

  it('checks what it can before the hello is complete', () => {
    const hello = buildClientHello({ sessionId: Buffer.alloc(32) });
    hello[5 + 38] = 40; // session_id length
    expectError(
      hello.subarray(0, 5 + 39),
      MalformedClientHelloError,
      'ClientHello session_id length 40 at offset 38 exceeds 32',
    );
  });

  it('refuses a non-integer maxBytes as a programming error', () => {
    expect(() => parseClientHello(buildClientHello(), { maxBytes: 0 })).toThrow(RangeError);
    expect(() => parseClientHello(buildClientHello(), { maxBytes: 1.5 })).toThrow(RangeError);
  });
});

describe('parseClientHello errors', () => {
  it('all carry stable codes and extend WireError', () => {
    expect(new NotTlsError('x')).toMatchObject({ code: 'SLUICE_NOT_TLS', name: 'NotTlsError' });
    expect(new MalformedClientHelloError('x')).toMatchObject({
      code: 'SLUICE_MALFORMED_CLIENT_HELLO',
      name: 'MalformedClientHelloError',
    });
    expect(new ClientHelloTooLargeError('x')).toMatchObject({
      code: 'SLUICE_CLIENT_HELLO_TOO_LARGE',
      name: 'ClientHelloTooLargeError',
    });
    for (const E of [NotTlsError, MalformedClientHelloError, ClientHelloTooLargeError]) {
      expect(new E('x')).toBeInstanceOf(WireError);
      expect(new E('x')).toBeInstanceOf(Error);
    }
    const cause = new Error('inner');
    expect(new NotTlsError('outer', { cause }).cause).toBe(cause);
  });

  describe('NotTlsError', () => {
    it('for plaintext HTTP on the TLS port', () => {
      expectError(Buffer.from('GET / HTTP/1.1\r\n'), NotTlsError, "first byte is 0x47, expected a TLS handshake record (0x16)");
    });
    it('for an SSLv2-format hello', () => {
      expectError(Buffer.from([0x80, 0x2e, 0x01, 0x00, 0x02]), NotTlsError, 'first byte is 0x80, expected a TLS handshake record (0x16)');
    });
    it('for a bad record version, as soon as its first byte is seen', () => {
      expectError(Buffer.from([22, 2]), NotTlsError, 'record at offset 0: version 0x02.., expected 0x0301-0x0304');
      expectError(Buffer.from([22, 3, 0]), NotTlsError, 'record at offset 0: version 0x0300, expected 0x0301-0x0304');
      expectError(Buffer.from([22, 3, 5, 0, 10]), NotTlsError, 'record at offset 0: version 0x0305, expected 0x0301-0x0304');
    });
  });

  describe('MalformedClientHelloError', () => {
    it('zero-length record', () => {
      expectError(Buffer.from([22, 3, 1, 0, 0]), MalformedClientHelloError, 'record at offset 0: zero-length handshake record');
    });
    it('record longer than 2^14', () => {
      expectError(
        Buffer.concat([Buffer.from([22, 3, 1]), u16(16385)]),
        MalformedClientHelloError,
        'record at offset 0: length 16385 exceeds the TLS maximum of 16384',
      );
    });
    it('a later record that is not a handshake record', () => {
      const message = handshakeMessage();
      const first = records(message.subarray(0, 10));
      expectError(
        Buffer.concat([first, Buffer.from([23, 3, 3, 0, 5])]),
        MalformedClientHelloError,
        'record at offset 15: content type 23 where a handshake record (22) continuing the ClientHello was expected',
      );
    });
    it('a later record with a bad version', () => {
      const first = records(handshakeMessage().subarray(0, 10));
      expectError(
        Buffer.concat([first, Buffer.from([22, 4, 1])]),
        MalformedClientHelloError,
        'record at offset 15: version 0x0401, expected 0x0301-0x0304',
      );
    });
    it('a handshake message that is not a ClientHello', () => {
      expectError(
        buildClientHello({ handshakeType: 2 }),
        MalformedClientHelloError,
        'handshake message type 2 at offset 5, expected ClientHello (1)',
      );
    });
    it('other handshake data after the ClientHello in its record', () => {
      const message = handshakeMessage();
      expectError(
        records(Buffer.concat([message, Buffer.from([20, 0, 0, 0])])),
        MalformedClientHelloError,
        `record at offset 0: 4 bytes of other handshake data follow the ${message.length}-byte ClientHello`,
      );
    });
    it('a client_version outside 0x0301-0x0304', () => {
      expectError(
        buildClientHello({ clientVersion: 0x0200 }),
        MalformedClientHelloError,
        'ClientHello client_version 0x0200 at offset 4, expected 0x0301-0x0304',
      );
    });
    it('a ClientHello body too short for its fixed fields', () => {
      const message = Buffer.concat([Buffer.from([1, 0, 0, 20]), u16(0x0303), Buffer.alloc(18)]);
      expectError(
        records(message),
        MalformedClientHelloError,
        'ClientHello random (32 bytes at offset 6) overruns the 20-byte ClientHello body',
      );
    });
    it('session_id longer than 32', () => {
      expectError(
        buildClientHello({ sessionId: Buffer.alloc(33) }),
        MalformedClientHelloError,
        'ClientHello session_id length 33 at offset 38 exceeds 32',
      );
    });
    it('cipher_suites of odd or zero length', () => {
      expectError(
        buildClientHello({ cipherSuites: Buffer.from([0x13, 0x01, 0x00]) }),
        MalformedClientHelloError,
        'ClientHello cipher_suites length 3 at offset 39 must be even and at least 2',
      );
      expectError(
        buildClientHello({ cipherSuites: Buffer.alloc(0) }),
        MalformedClientHelloError,
        'ClientHello cipher_suites length 0 at offset 39 must be even and at least 2',
      );
    });
    it('cipher_suites overrunning the hello', () => {
      const hello = buildClientHello({ extensions: null });
      hello.writeUInt16BE(0x0100, 5 + 39);
      expectError(
        hello,
        MalformedClientHelloError,
        'ClientHello cipher_suites (258 bytes at offset 39) overruns the 43-byte ClientHello body',
      );
    });
    it('empty compression_methods, or without null compression', () => {
      expectError(
        buildClientHello({ compressionMethods: Buffer.alloc(0) }),
        MalformedClientHelloError,
        'ClientHello compression_methods at offset 45 is empty',
      );
      expectError(
        buildClientHello({ compressionMethods: Buffer.from([1]) }),
        MalformedClientHelloError,
        'ClientHello compression_methods at offset 45 does not offer null compression (0)',
      );
    });
    it('an extensions length that does not match the rest of the hello', () => {
      expectError(
        buildClientHello({ bodySuffix: Buffer.from([0, 0]) }),
        MalformedClientHelloError,
        'ClientHello extensions length 20 at offset 47 does not match the 22 bytes left in the ClientHello',
      );
    });
    it('a truncated extension header', () => {
      expectError(
        buildClientHello({ rawExtensions: Buffer.from([0x00, 0x17, 0x00]) }),
        MalformedClientHelloError,
        'ClientHello has a truncated extension header at offset 49 (3 bytes left)',
      );
    });
    it('an extension overrunning the extensions block', () => {
      expectError(
        buildClientHello({ rawExtensions: Buffer.from([0x00, 0x17, 0x00, 0x05, 1, 2]) }),
        MalformedClientHelloError,
        'ClientHello extension 0x0017 at offset 49: length 5 overruns the extensions block by 3 bytes',
      );
    });
    it('a duplicate extension', () => {
      expectError(
        buildClientHello({ extensions: [sni('a.example'), ext(0x0017, []), sni('b.example')] }),
        MalformedClientHelloError,
        'ClientHello has a duplicate extension 0x0000 at offset 71',
      );
    });

    describe('in server_name', () => {
      const withSni = (data: Buffer): Buffer => buildClientHello({ extensions: [ext(0, data)] });
      const at = 'server_name extension at offset 49';
      it('list length mismatch', () => {
        expectError(
          withSni(Buffer.concat([u16(20), u8(0), vec16(Buffer.from('a.example'))])),
          MalformedClientHelloError,
          `${at}: name list length 20 does not match the extension's 12 bytes`,
        );
      });
      it('too short for a list', () => {
        expectError(withSni(Buffer.from([0])), MalformedClientHelloError, `${at}: 1 bytes is too short for a name list`);
        expectError(withSni(vec16(u8(0))), MalformedClientHelloError, `${at}: name list of 1 bytes holds no complete entry`);
      });
      it('a name_type other than host_name', () => {
        expectError(
          withSni(vec16(u8(1), vec16(Buffer.from('a.example')))),
          MalformedClientHelloError,
          `${at}: name_type 1 is not host_name (0)`,
        );
      });
      it('a host_name overrunning the list', () => {
        expectError(
          withSni(vec16(u8(0), u16(30), Buffer.from('a.example'))),
          MalformedClientHelloError,
          `${at}: host_name length 30 overruns the name list by 21 bytes`,
        );
      });
      it('more than one name', () => {
        expectError(
          withSni(vec16(u8(0), vec16(Buffer.from('a.example')), u8(0), vec16(Buffer.from('b.example')))),
          MalformedClientHelloError,
          `${at}: 12 bytes follow the host_name; only one name is allowed`,
        );
      });
      it('an empty host_name', () => {
        expectError(withSni(vec16(u8(0), vec16())), MalformedClientHelloError, `${at}: host_name is empty`);
      });
      it('invalid characters', () => {
        expectError(
          buildClientHello({ extensions: [sni('exa mple.com')] }),
          MalformedClientHelloError,
          `${at}: invalid host_name "exa mple.com": invalid character 0x20 at position 3`,
        );
        expectError(
          buildClientHello({ extensions: [sni('a\u0000.evil.com')] }),
          MalformedClientHelloError,
          `${at}: invalid host_name "a\\u0000.evil.com": invalid character 0x00 at position 1`,
        );
        expectError(
          buildClientHello({ extensions: [sni(Buffer.from('bücher.de', 'utf8'))] }),
          MalformedClientHelloError,
          `${at}: invalid host_name "bÃ¼cher.de": invalid character 0xc3 at position 1`,
        );
        expectError(
          buildClientHello({ extensions: [sni('a/b')] }),
          MalformedClientHelloError,
          `${at}: invalid host_name "a/b": invalid character '/' (0x2f) at position 1`,
        );
      });
      it('empty labels and over-long labels or names', () => {
        expectError(
          buildClientHello({ extensions: [sni('a..example')] }),
          MalformedClientHelloError,
          `${at}: invalid host_name "a..example": empty label at position 2`,
        );
        expectError(
          buildClientHello({ extensions: [sni('.')] }),
          MalformedClientHelloError,
          `${at}: invalid host_name ".": empty host name`,
        );
        expectError(
          buildClientHello({ extensions: [sni(`${'a'.repeat(64)}.example`)] }),
          MalformedClientHelloError,
          `${at}: invalid host_name "${'a'.repeat(64)}...": label longer than 63 characters at position 0`,
        );
        const long = Array(51).fill('abcd').join('.'); // 254 characters
        expectError(
          buildClientHello({ extensions: [sni(long)] }),
          MalformedClientHelloError,
          `${at}: invalid host_name "${long.slice(0, 64)}...": longer than 253 characters (254)`,
        );
        expectError(
          buildClientHello({ extensions: [sni('a'.repeat(300))] }),
          MalformedClientHelloError,
          `${at}: host_name is 300 bytes, longer than 253 characters`,
        );
      });
    });

    describe('in application_layer_protocol_negotiation', () => {
      const withAlpn = (data: Buffer): Buffer => buildClientHello({ extensions: [ext(16, data)] });
      const at = 'application_layer_protocol_negotiation extension at offset 49';
      it('list length mismatch and empty list', () => {
        expectError(
          withAlpn(Buffer.concat([u16(9), vec8(Buffer.from('h2'))])),
          MalformedClientHelloError,
          `${at}: protocol list length 9 does not match the extension's 3 bytes`,
        );
        expectError(withAlpn(vec16()), MalformedClientHelloError, `${at}: protocol list is empty`);
        expectError(withAlpn(Buffer.from([0])), MalformedClientHelloError, `${at}: 1 bytes is too short for a protocol list`);
      });
      it('an empty protocol name, or one overrunning the list', () => {
        expectError(withAlpn(vec16(u8(0))), MalformedClientHelloError, `${at}: empty protocol name at offset 55`);
        expectError(
          withAlpn(vec16(u8(5), Buffer.from('h2'))),
          MalformedClientHelloError,
          `${at}: protocol name length 5 at offset 55 overruns the list by 3 bytes`,
        );
      });
    });
  });

  describe('ClientHelloTooLargeError', () => {
    it('as soon as a record header says the hello cannot fit', () => {
      expectError(
        Buffer.concat([Buffer.from([22, 3, 1]), u16(16384)]),
        ClientHelloTooLargeError,
        'ClientHello needs at least 16389 bytes of input, more than maxBytes (16384)',
      );
    });
    it('as soon as the handshake header says the hello cannot fit', () => {
      const header = Buffer.from([1, 0x01, 0x00, 0x00]); // 65536-byte ClientHello
      expectError(
        records(header),
        ClientHelloTooLargeError,
        'ClientHello needs at least 65550 bytes of input, more than maxBytes (16384)',
      );
    });
    it('against a smaller maxBytes, counting record headers of a split hello', () => {
      const message = handshakeMessage();
      const hello = records(message, { recordSizes: [20, 20] });
      expect(complete(parseClientHello(hello, { maxBytes: hello.length })).bytes).toBe(hello.length);
      expectError(
        hello.subarray(0, 30),
        ClientHelloTooLargeError,
        `ClientHello needs at least ${hello.length} bytes of input, more than maxBytes (${hello.length - 1})`,
        hello.length - 1,
      );
    });
    it('when even the record header does not fit', () => {
      expectError(Buffer.from([22, 3, 1, 0, 200, 1, 0]), ClientHelloTooLargeError, 'ClientHello needs at least 205 bytes of input, more than maxBytes (6)', 6);
      expectError(Buffer.from([22, 3, 1, 0]), ClientHelloTooLargeError, 'ClientHello needs at least 6 bytes of input, more than maxBytes (4)', 4);
    });
  });
});
