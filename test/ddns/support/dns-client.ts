import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { execFile } from 'node:child_process';
import dnsPacket from 'dns-packet';

export type Decoded = ReturnType<typeof dnsPacket.decode>;

/** One UDP exchange; null if no answer within `timeoutMs` (the server dropped it). */
export function udpExchange(port: number, message: Uint8Array, timeoutMs = 1000, host = '127.0.0.1'): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const t = setTimeout(() => {
      s.close();
      resolve(null);
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m);
    });
    s.send(message, port, host);
  });
}

/**
 * Sends each message length-prefixed over one TCP connection, written in `segment`-byte pieces
 * (1: byte by byte), and collects `expect` answers (or what came before the server closed).
 */
export function tcpExchange(port: number, messages: Uint8Array[], opts: { segment?: number; expect?: number; timeoutMs?: number } = {}): Promise<{ answers: Buffer[]; closed: boolean }> {
  const stream = Buffer.concat(messages.map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), Buffer.from(m)])));
  const expect = opts.expect ?? messages.length;
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port, noDelay: true });
    const answers: Buffer[] = [];
    let buf = Buffer.alloc(0);
    let closed = false;
    const done = (): void => {
      clearTimeout(t);
      sock.destroy();
      resolve({ answers, closed });
    };
    const t = setTimeout(done, opts.timeoutMs ?? 3000);
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        answers.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (answers.length >= expect) done();
    });
    sock.on('close', () => {
      closed = true;
      done();
    });
    sock.on('error', () => undefined);
    sock.on('connect', async () => {
      const seg = opts.segment ?? stream.length;
      for (let i = 0; i < stream.length; i += seg) {
        sock.write(stream.subarray(i, i + seg));
        if (seg < stream.length) await new Promise((r) => setImmediate(r));
      }
    });
  });
}

/** A query built with dns-packet (names as text). */
export function query(name: string, type: string, opts: { id?: number; edns?: number; rd?: boolean; opcode?: string } = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: opts.id ?? 4242,
    flags: opts.rd === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as 'A', class: 'IN' }],
    ...(opts.edns !== undefined ? { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns, flags: 0, options: [] } as never] } : {}),
  });
}

/** A query whose name is given as raw label bytes (any octet, any case). */
export function rawQuery(labels: Uint8Array[], qtype: number, opts: { id?: number; edns?: number } = {}): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(opts.id ?? 4243, 0);
  header.writeUInt16BE(0x0100, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(opts.edns !== undefined ? 1 : 0, 10);
  parts.push(header);
  for (const l of labels) parts.push(Buffer.from([l.length]), Buffer.from(l));
  parts.push(Buffer.from([0, qtype >> 8, qtype & 0xff, 0, 1]));
  if (opts.edns !== undefined) parts.push(Buffer.from([0, 0, 41, opts.edns >> 8, opts.edns & 0xff, 0, 0, 0, 0, 0, 0]));
  return Buffer.concat(parts);
}

export function decode(buf: Buffer): Decoded {
  return dnsPacket.decode(buf);
}

export const rcodeOf = (buf: Buffer): number => buf.readUInt16BE(2) & 0xf;
export const flagsOf = (buf: Buffer): number => buf.readUInt16BE(2);

/** Runs dig from bind9-dnsutils against the server; resolves with its stdout. */
export function dig(port: number, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('dig', ['@127.0.0.1', '-p', String(port), '+tries=1', '+time=2', ...args], { timeout: timeoutMs }, (err, stdout) => {
      if (err && !stdout) reject(err);
      else resolve(stdout);
    });
  });
}
