// Builds ClientHello records byte by byte for tests, so each error case can break exactly one
// field. Defaults produce a minimal, valid TLS 1.2-style hello.

export type Extension = [type: number, data: Buffer];

export interface HelloSpec {
  recordType?: number;
  recordVersion?: number;
  handshakeType?: number;
  clientVersion?: number;
  sessionId?: Buffer;
  /** Raw cipher_suites vector contents (without its length). */
  cipherSuites?: Buffer;
  compressionMethods?: Buffer;
  /** null: no extensions block at all. */
  extensions?: Extension[] | null;
  /** The extensions block contents verbatim (its length prefix is still computed). */
  rawExtensions?: Buffer;
  /** Bytes appended inside the handshake message after the extensions (breaks lengths on purpose). */
  bodySuffix?: Buffer;
  /** Split the handshake message over records of these payload sizes (the last one takes the rest). */
  recordSizes?: number[];
}

export function u8(n: number): Buffer {
  return Buffer.from([n & 0xff]);
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}

export function u24(n: number): Buffer {
  return Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

export function vec16(...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([u16(body.length), body]);
}

export function vec8(...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([u8(body.length), body]);
}

/** server_name extension holding one host_name entry. */
export function sni(name: string | Buffer): Extension {
  const bytes = typeof name === 'string' ? Buffer.from(name, 'latin1') : name;
  return [0x0000, vec16(u8(0), vec16(bytes))];
}

export function alpn(...protocols: string[]): Extension {
  return [0x0010, vec16(...protocols.map((p) => vec8(Buffer.from(p, 'latin1'))))];
}

export function ext(type: number, data: Buffer | number[]): Extension {
  return [type, Buffer.isBuffer(data) ? data : Buffer.from(data)];
}

/** The handshake message (type, length, body) without record framing. */
export function handshakeMessage(spec: HelloSpec = {}): Buffer {
  const extensions = spec.extensions === undefined ? [sni('example.com')] : spec.extensions;
  const body = Buffer.concat([
    u16(spec.clientVersion ?? 0x0303),
    Buffer.alloc(32, 0xab),
    vec8(spec.sessionId ?? Buffer.alloc(0)),
    vec16(spec.cipherSuites ?? Buffer.from([0x13, 0x01, 0xc0, 0x2f])),
    vec8(spec.compressionMethods ?? Buffer.from([0])),
    spec.rawExtensions !== undefined
      ? vec16(spec.rawExtensions)
      : extensions === null
      ? Buffer.alloc(0)
      : vec16(...extensions.map(([type, data]) => Buffer.concat([u16(type), vec16(data)]))),
    spec.bodySuffix ?? Buffer.alloc(0),
  ]);
  return Buffer.concat([u8(spec.handshakeType ?? 1), u24(body.length), body]);
}

export function records(payload: Buffer, spec: Pick<HelloSpec, 'recordType' | 'recordVersion' | 'recordSizes'> = {}): Buffer {
  const out: Buffer[] = [];
  const sizes = spec.recordSizes ?? [];
  let off = 0;
  let i = 0;
  while (off < payload.length) {
    const size = i < sizes.length ? sizes[i]! : payload.length - off;
    const fragment = payload.subarray(off, off + size);
    out.push(u8(spec.recordType ?? 22), u16(spec.recordVersion ?? 0x0301), u16(fragment.length), fragment);
    off += size;
    i++;
  }
  return Buffer.concat(out);
}

export function buildClientHello(spec: HelloSpec = {}): Buffer {
  return records(handshakeMessage(spec), spec);
}
