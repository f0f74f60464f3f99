// Peeks at a TLS ClientHello (SNI and ALPN) without terminating TLS, so the edge can route the raw
// TCP connection. Hand-written because no maintained library fits: Node's TLS stack only exposes
// the SNI once it owns the socket and terminates the handshake, and the maintained npm peek
// (`read-tls-client-hello`) consumes a Readable stream, reads only the first record and does not
// validate lengths strictly. The edge needs a pure function over "all bytes received so far" that
// reassembles multi-record hellos, answers "incomplete" precisely and never reads past a byte cap.
//
// Stateless: the caller passes the whole prefix again after each TCP segment. A call costs
// O(bytes + extensions) and never touches `buf` at or beyond `maxBytes`.

import {
  ClientHelloTooLargeError,
  MalformedClientHelloError,
  NotTlsError,
} from './client-hello-errors.ts';
import { quote } from './error-text.ts';
import { hostnameProblem, MAX_HOSTNAME_LENGTH, normalizeHostname } from './hostname.ts';

export type ClientHelloResult =
  | { status: 'incomplete' }
  | {
      status: 'complete';
      /** SNI host_name, lowercased, trailing dot stripped; null when the extension is absent. */
      serverName: string | null;
      /** ALPN protocol names in the client's order (latin1-decoded); empty when absent. */
      alpn: string[];
      /** Length of the input prefix made of the records that carried the ClientHello. */
      bytes: number;
    };

export interface ParseClientHelloOptions {
  /** Input bytes the hello may occupy, record headers included. Default 16384. */
  maxBytes?: number;
}

export const DEFAULT_CLIENT_HELLO_MAX_BYTES = 16384;

const CONTENT_TYPE_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const RECORD_HEADER_BYTES = 5;
const HANDSHAKE_HEADER_BYTES = 4;
const MAX_RECORD_PAYLOAD = 16384; // RFC 8446 5.1: TLSPlaintext.length MUST NOT exceed 2^14
const EXT_SERVER_NAME = 0x0000;
const EXT_ALPN = 0x0010;
const NAME_TYPE_HOST_NAME = 0;

const INCOMPLETE: ClientHelloResult = Object.freeze({ status: 'incomplete' });

type HelloFields = { serverName: string | null; alpn: string[] };

/**
 * Parses the ClientHello at the start of `buf` (everything received on the connection so far).
 * Returns 'incomplete' only while a longer input could still be a valid hello within maxBytes;
 * throws NotTlsError, MalformedClientHelloError or ClientHelloTooLargeError otherwise (and
 * RangeError for a bad `maxBytes`, which is a programming error).
 */
export function parseClientHello(buf: Buffer, opts?: ParseClientHelloOptions): ClientHelloResult {
  const maxBytes = opts?.maxBytes ?? DEFAULT_CLIENT_HELLO_MAX_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new RangeError(`maxBytes must be a positive integer, got ${maxBytes}`);
  }
  const limit = Math.min(buf.length, maxBytes);

  // Walk the record layer, collecting the handshake fragments the hello is spread over.
  const frags: number[] = []; // [start, end) pairs of available payload bytes
  let off = 0;
  let records = 0;
  let hsDeclared = 0; // handshake bytes the records seen so far declare
  let hsAvail = 0; // of those, bytes present in buf[0, limit)
  let helloTotal = -1; // handshake header + body, once known
  let lastRecordEnd = 0;

  while (helloTotal < 0 || hsDeclared < helloTotal) {
    if (off >= limit) break;
    checkRecordHeader(buf, off, limit, records);
    if (off + RECORD_HEADER_BYTES > limit) break;
    const len = buf.readUInt16BE(off + 3);
    if (len === 0) {
      throw new MalformedClientHelloError(`record at offset ${off}: zero-length handshake record`);
    }
    if (len > MAX_RECORD_PAYLOAD) {
      throw new MalformedClientHelloError(
        `record at offset ${off}: length ${len} exceeds the TLS maximum of ${MAX_RECORD_PAYLOAD}`,
      );
    }
    const start = off + RECORD_HEADER_BYTES;
    const end = start + len;
    const availEnd = Math.min(end, limit);
    frags.push(start, availEnd);
    hsAvail += availEnd - start;
    hsDeclared += len;
    lastRecordEnd = end;
    records++;

    if (helloTotal < 0 && hsAvail >= 1) {
      const type = fragByte(buf, frags, 0);
      if (type !== HANDSHAKE_CLIENT_HELLO) {
        throw new MalformedClientHelloError(
          `handshake message type ${type} at offset ${RECORD_HEADER_BYTES}, expected ClientHello (1)`,
        );
      }
      if (hsAvail >= HANDSHAKE_HEADER_BYTES) {
        helloTotal =
          HANDSHAKE_HEADER_BYTES +
          ((fragByte(buf, frags, 1) << 16) | (fragByte(buf, frags, 2) << 8) | fragByte(buf, frags, 3));
      }
    }
    if (helloTotal >= 0 && hsDeclared > helloTotal) {
      throw new MalformedClientHelloError(
        `record at offset ${off}: ${hsDeclared - helloTotal} bytes of other handshake data follow ` +
          `the ${helloTotal}-byte ClientHello`,
      );
    }
    if (availEnd < end) break;
    off = end;
  }

  const complete = helloTotal >= 0 && hsAvail >= helloTotal;
  if (!complete) {
    const need = minimumInputNeeded(off, records, lastRecordEnd, hsDeclared, helloTotal);
    if (need > maxBytes) {
      throw new ClientHelloTooLargeError(
        `ClientHello needs at least ${need} bytes of input, more than maxBytes (${maxBytes})`,
      );
    }
  }
  if (helloTotal < 0) return incompleteWithin(buf, maxBytes);

  const hs = frags.length === 2 ? buf.subarray(frags[0], frags[1]) : joinFragments(buf, frags, hsAvail);
  const fields = parseHelloBody(hs, hsAvail, helloTotal);
  if (fields === null) return incompleteWithin(buf, maxBytes);
  return { status: 'complete', serverName: fields.serverName, alpn: fields.alpn, bytes: lastRecordEnd };
}

function incompleteWithin(buf: Buffer, maxBytes: number): ClientHelloResult {
  // Every byte up to maxBytes is present, yet the hello is unfinished: only a longer input could
  // finish it, and that input would be over the cap.
  if (buf.length >= maxBytes) {
    throw new ClientHelloTooLargeError(`ClientHello is not complete within maxBytes (${maxBytes})`);
  }
  return INCOMPLETE;
}

function checkRecordHeader(buf: Buffer, off: number, limit: number, index: number): void {
  const type = buf[off]!;
  if (type !== CONTENT_TYPE_HANDSHAKE) {
    if (index === 0) {
      throw new NotTlsError(`first byte is 0x${hex2(type)}, expected a TLS handshake record (0x16)`);
    }
    throw new MalformedClientHelloError(
      `record at offset ${off}: content type ${type} where a handshake record (22) continuing ` +
        `the ClientHello was expected`,
    );
  }
  const major = off + 1 < limit ? buf[off + 1]! : 3;
  const minor = off + 2 < limit ? buf[off + 2]! : 1;
  if (major !== 3 || minor < 1 || minor > 4) {
    const seen = off + 2 < limit ? `0x${hex2(major)}${hex2(minor)}` : `0x${hex2(major)}..`;
    const message = `record at offset ${off}: version ${seen}, expected 0x0301-0x0304`;
    throw index === 0 ? new NotTlsError(message) : new MalformedClientHelloError(message);
  }
}

/** Lower bound on the input length any valid completion of what was seen needs. */
function minimumInputNeeded(
  off: number,
  records: number,
  lastRecordEnd: number,
  hsDeclared: number,
  helloTotal: number,
): number {
  if (records === 0) return off + RECORD_HEADER_BYTES + 1;
  if (helloTotal < 0) {
    // Still short of the 4-byte handshake header: either the current record is unfinished, or
    // the remaining header bytes need at least one more record.
    return hsDeclared >= HANDSHAKE_HEADER_BYTES
      ? lastRecordEnd
      : lastRecordEnd + RECORD_HEADER_BYTES + (HANDSHAKE_HEADER_BYTES - hsDeclared);
  }
  if (hsDeclared >= helloTotal) return lastRecordEnd;
  return lastRecordEnd + RECORD_HEADER_BYTES + (helloTotal - hsDeclared);
}

function fragByte(buf: Buffer, frags: number[], index: number): number {
  let i = index;
  for (let f = 0; f < frags.length; f += 2) {
    const start = frags[f]!;
    const len = frags[f + 1]! - start;
    if (i < len) return buf[start + i]!;
    i -= len;
  }
  throw new RangeError(`handshake byte ${index} is not available`);
}

// A byte loop rather than Buffer.concat: a hello split into many tiny records would otherwise cost
// one Buffer view per record on every call.
function joinFragments(buf: Buffer, frags: number[], length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let j = 0;
  for (let f = 0; f < frags.length; f += 2) {
    const end = frags[f + 1]!;
    for (let i = frags[f]!; i < end; i++) out[j++] = buf[i]!;
  }
  return out;
}

/**
 * Validates the ClientHello message in hs[0, end) of which hs[0, avail) is present. Returns null
 * when more bytes are needed, after checking everything the present bytes allow.
 * Offsets in messages are relative to the start of the handshake message.
 */
function parseHelloBody(hs: Buffer, avail: number, end: number): HelloFields | null {
  const bodyLength = end - HANDSHAKE_HEADER_BYTES;
  const overrun = (what: string, at: number, size: number): MalformedClientHelloError =>
    new MalformedClientHelloError(
      `ClientHello ${what} (${size} bytes at offset ${at}) overruns the ${bodyLength}-byte ClientHello body`,
    );

  let p = HANDSHAKE_HEADER_BYTES;
  if (p + 2 > end) throw overrun('client_version', p, 2);
  if (avail < p + 2) return null;
  const major = hs[p]!;
  const minor = hs[p + 1]!;
  if (major !== 3 || minor < 1 || minor > 4) {
    throw new MalformedClientHelloError(
      `ClientHello client_version 0x${hex2(major)}${hex2(minor)} at offset ${p}, expected 0x0301-0x0304`,
    );
  }
  p += 2;

  if (p + 32 > end) throw overrun('random', p, 32);
  p += 32;

  if (p + 1 > end) throw overrun('session_id length', p, 1);
  if (avail < p + 1) return null;
  const sessionIdLength = hs[p]!;
  if (sessionIdLength > 32) {
    throw new MalformedClientHelloError(
      `ClientHello session_id length ${sessionIdLength} at offset ${p} exceeds 32`,
    );
  }
  if (p + 1 + sessionIdLength > end) throw overrun('session_id', p, 1 + sessionIdLength);
  p += 1 + sessionIdLength;

  if (p + 2 > end) throw overrun('cipher_suites length', p, 2);
  if (avail < p + 2) return null;
  const cipherSuitesLength = hs.readUInt16BE(p);
  if (cipherSuitesLength < 2 || cipherSuitesLength % 2 !== 0) {
    throw new MalformedClientHelloError(
      `ClientHello cipher_suites length ${cipherSuitesLength} at offset ${p} must be even and at least 2`,
    );
  }
  if (p + 2 + cipherSuitesLength > end) throw overrun('cipher_suites', p, 2 + cipherSuitesLength);
  p += 2 + cipherSuitesLength;

  if (p + 1 > end) throw overrun('compression_methods length', p, 1);
  if (avail < p + 1) return null;
  const compressionLength = hs[p]!;
  if (compressionLength === 0) {
    throw new MalformedClientHelloError(`ClientHello compression_methods at offset ${p} is empty`);
  }
  if (p + 1 + compressionLength > end) throw overrun('compression_methods', p, 1 + compressionLength);
  if (avail < p + 1 + compressionLength) return null;
  if (hs.subarray(p + 1, p + 1 + compressionLength).indexOf(0) < 0) {
    throw new MalformedClientHelloError(
      `ClientHello compression_methods at offset ${p} does not offer null compression (0)`,
    );
  }
  p += 1 + compressionLength;

  const fields: HelloFields = { serverName: null, alpn: [] };
  if (p === end) return fields; // TLS 1.0-1.2 allow a hello without an extensions block

  if (p + 2 > end) throw overrun('extensions length', p, 2);
  if (avail < p + 2) return null;
  const extensionsLength = hs.readUInt16BE(p);
  if (p + 2 + extensionsLength !== end) {
    throw new MalformedClientHelloError(
      `ClientHello extensions length ${extensionsLength} at offset ${p} does not match the ` +
        `${end - p - 2} bytes left in the ClientHello`,
    );
  }
  p += 2;

  const seen = new Uint8Array(65536 / 8); // one bit per extension type
  while (p < end) {
    if (p + 4 > end) {
      throw new MalformedClientHelloError(
        `ClientHello has a truncated extension header at offset ${p} (${end - p} bytes left)`,
      );
    }
    if (avail < p + 4) return null;
    const type = hs.readUInt16BE(p);
    const len = hs.readUInt16BE(p + 2);
    if (p + 4 + len > end) {
      throw new MalformedClientHelloError(
        `ClientHello extension 0x${hex4(type)} at offset ${p}: length ${len} overruns the ` +
          `extensions block by ${p + 4 + len - end} bytes`,
      );
    }
    const bit = 1 << (type & 7);
    if ((seen[type >> 3]! & bit) !== 0) {
      throw new MalformedClientHelloError(`ClientHello has a duplicate extension 0x${hex4(type)} at offset ${p}`);
    }
    seen[type >> 3]! |= bit;
    if (type === EXT_SERVER_NAME || type === EXT_ALPN) {
      if (avail < p + 4 + len) return null;
      if (type === EXT_SERVER_NAME) fields.serverName = parseServerName(hs, p + 4, len);
      else fields.alpn = parseAlpn(hs, p + 4, len);
    }
    p += 4 + len;
  }
  return avail >= end ? fields : null;
}

// RFC 6066 3. Like OpenSSL, accept exactly one entry and only of type host_name: no other type was
// ever defined and the list format cannot skip unknown types reliably.
function parseServerName(hs: Buffer, start: number, len: number): string {
  const where = `server_name extension at offset ${start - 4}`;
  if (len < 2) throw new MalformedClientHelloError(`${where}: ${len} bytes is too short for a name list`);
  const listLength = hs.readUInt16BE(start);
  if (listLength !== len - 2) {
    throw new MalformedClientHelloError(
      `${where}: name list length ${listLength} does not match the extension's ${len - 2} bytes`,
    );
  }
  if (listLength < 3) {
    throw new MalformedClientHelloError(`${where}: name list of ${listLength} bytes holds no complete entry`);
  }
  const nameType = hs[start + 2]!;
  if (nameType !== NAME_TYPE_HOST_NAME) {
    throw new MalformedClientHelloError(`${where}: name_type ${nameType} is not host_name (0)`);
  }
  const nameLength = hs.readUInt16BE(start + 3);
  const nameStart = start + 5;
  const listEnd = start + len;
  if (nameStart + nameLength > listEnd) {
    throw new MalformedClientHelloError(
      `${where}: host_name length ${nameLength} overruns the name list by ${nameStart + nameLength - listEnd} bytes`,
    );
  }
  if (nameStart + nameLength < listEnd) {
    throw new MalformedClientHelloError(
      `${where}: ${listEnd - nameStart - nameLength} bytes follow the host_name; only one name is allowed`,
    );
  }
  if (nameLength === 0) throw new MalformedClientHelloError(`${where}: host_name is empty`);
  if (nameLength > MAX_HOSTNAME_LENGTH + 1) {
    throw new MalformedClientHelloError(
      `${where}: host_name is ${nameLength} bytes, longer than ${MAX_HOSTNAME_LENGTH} characters`,
    );
  }
  const name = hs.toString('latin1', nameStart, nameStart + nameLength);
  const problem = hostnameProblem(name);
  if (problem !== null) {
    throw new MalformedClientHelloError(`${where}: invalid host_name ${quote(name)}: ${problem}`);
  }
  return normalizeHostname(name);
}

// RFC 7301 3.1: ProtocolName protocol_name_list<2..2^16-1>, each ProtocolName<1..2^8-1>.
function parseAlpn(hs: Buffer, start: number, len: number): string[] {
  const where = `application_layer_protocol_negotiation extension at offset ${start - 4}`;
  if (len < 2) throw new MalformedClientHelloError(`${where}: ${len} bytes is too short for a protocol list`);
  const listLength = hs.readUInt16BE(start);
  if (listLength !== len - 2) {
    throw new MalformedClientHelloError(
      `${where}: protocol list length ${listLength} does not match the extension's ${len - 2} bytes`,
    );
  }
  if (listLength === 0) throw new MalformedClientHelloError(`${where}: protocol list is empty`);
  const protocols: string[] = [];
  const end = start + len;
  let p = start + 2;
  while (p < end) {
    const nameLength = hs[p]!;
    if (nameLength === 0) {
      throw new MalformedClientHelloError(`${where}: empty protocol name at offset ${p}`);
    }
    if (p + 1 + nameLength > end) {
      throw new MalformedClientHelloError(
        `${where}: protocol name length ${nameLength} at offset ${p} overruns the list by ${p + 1 + nameLength - end} bytes`,
      );
    }
    protocols.push(hs.toString('latin1', p + 1, p + 1 + nameLength));
    p += 1 + nameLength;
  }
  return protocols;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
