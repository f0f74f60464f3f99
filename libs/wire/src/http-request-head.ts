// Syntax of the request line and field lines (RFC 9112 3 and 5) and the framing decision a
// complete head implies (RFC 9112 6.3), applied the strict way anti-smuggling proxies do.

import { describeByte, quote } from './error-text.ts';
import { parseAuthority, type Authority } from './http-authority.ts';
import * as chars from './http-char-classes.ts';
import {
  MalformedRequestError,
  UnsupportedTransferEncodingError,
  UnsupportedVersionError,
} from './http-framing-errors.ts';

// Module-local copies: transpilers (tsx/esbuild, vitest) turn imported bindings into getter calls,
// which cost about a third of the time in the per-byte loops.
const { COLON, CR, FIELD_VALUE_CHAR, HTAB, SP, TARGET_CHAR, TCHAR } = chars;

export interface RequestHead {
  method: string;
  target: string;
  version: '1.0' | '1.1';
  /** Lowercased, port and trailing dot stripped; from an absolute-form/CONNECT target if present, else Host. */
  host: string;
  /** Port of the same authority `host` came from, if it had one. */
  port: number | null;
  /** Field lines in order; names as received, values without surrounding whitespace. */
  headers: Array<[name: string, value: string]>;
  /** Upgrade + Connection: upgrade (HTTP/1.1 only), or CONNECT: the framer passes everything after through. */
  upgrade: boolean;
  bodyKind: 'none' | 'length' | 'chunked';
  /** 0 unless bodyKind is 'length'. */
  contentLength: number;
  keepAlive: boolean;
}

export interface RequestLine {
  method: string;
  target: string;
  version: '1.0' | '1.1';
}

const MAX_CONTENT_LENGTH_DIGITS = 15;

/** Parses buf[s, e), the request line without its CRLF. */
export function parseRequestLine(buf: Buffer, s: number, e: number): RequestLine {
  let i = s;
  while (i < e && TCHAR[buf[i]!] === 1) i++;
  if (i === s || i === e || buf[i] !== SP) {
    throw badRequestLine(buf, i, e, i === s ? 'method is not a token' : 'method not followed by one space');
  }
  const method = buf.toString('latin1', s, i);

  const targetStart = ++i;
  while (i < e && TARGET_CHAR[buf[i]!] === 1) i++;
  if (i === targetStart) throw badRequestLine(buf, i, e, 'empty request-target or extra space');
  if (i === e) {
    throw new UnsupportedVersionError(
      'HTTP/0.9 request (request line has no HTTP-version) is not supported',
    );
  }
  if (buf[i] !== SP) throw badRequestLine(buf, i, e, 'invalid character in request-target');
  const target = buf.toString('latin1', targetStart, i);

  const v = i + 1;
  if (
    e - v === 8 &&
    buf[v] === 0x48 && buf[v + 1] === 0x54 && buf[v + 2] === 0x54 && buf[v + 3] === 0x50 && // HTTP
    buf[v + 4] === 0x2f && isDigit(buf[v + 5]!) && buf[v + 6] === 0x2e && isDigit(buf[v + 7]!)
  ) {
    if (buf[v + 5] === 0x31 && (buf[v + 7] === 0x31 || buf[v + 7] === 0x30)) {
      return { method, target, version: buf[v + 7] === 0x31 ? '1.1' : '1.0' };
    }
    throw new UnsupportedVersionError(
      `${buf.toString('latin1', v, e)} is not supported; only HTTP/1.0 and HTTP/1.1 are`,
    );
  }
  throw badRequestLine(buf, findBad(buf, v, e), e, 'HTTP-version is not HTTP/<digit>.<digit>');
}

function badRequestLine(buf: Buffer, at: number, e: number, reason: string): MalformedRequestError {
  if (at < e && buf[at] === CR) return new MalformedRequestError('bare CR in request line');
  return new MalformedRequestError(`invalid request line: ${reason}`);
}

function findBad(buf: Buffer, s: number, e: number): number {
  const cr = buf.indexOf(CR, s);
  return cr >= 0 && cr < e ? cr : s;
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

/**
 * Parses buf[s, e), one field line without its CRLF. `lineNo` (1 = first field line) and
 * `previous` (the name of the field before it) are only for messages.
 */
export function parseFieldLine(
  buf: Buffer,
  s: number,
  e: number,
  lineNo: number,
  previous: string | undefined,
  section: 'header' | 'trailer' = 'header',
): [name: string, value: string] {
  const first = buf[s]!;
  if (first === SP || first === HTAB) {
    throw new MalformedRequestError(
      previous === undefined
        ? 'whitespace between the request line and the first header field is not allowed'
        : `obs-fold (line folding) in ${section} ${quote(previous)} is not allowed`,
    );
  }
  let i = s;
  while (i < e && TCHAR[buf[i]!] === 1) i++;
  if (i === e) throw new MalformedRequestError(`${section} line ${lineNo} has no colon`);
  const stop = buf[i]!;
  if (stop !== COLON) {
    if (stop === CR) throw new MalformedRequestError(`bare CR in ${section} line ${lineNo}`);
    if (i > s && (stop === SP || stop === HTAB)) {
      throw new MalformedRequestError(
        `whitespace between ${section} name ${quote(buf.toString('latin1', s, i))} and colon is not allowed`,
      );
    }
    throw new MalformedRequestError(
      `invalid ${section} name: ${describeByte(stop)} at position ${i - s} of ${section} line ${lineNo}`,
    );
  }
  if (i === s) throw new MalformedRequestError(`invalid ${section} name: empty name in ${section} line ${lineNo}`);
  const name = buf.toString('latin1', s, i);

  let vs = i + 1;
  while (vs < e && (buf[vs] === SP || buf[vs] === HTAB)) vs++;
  for (let j = vs; j < e; j++) {
    const b = buf[j]!;
    if (FIELD_VALUE_CHAR[b] !== 1) {
      if (b === CR) throw new MalformedRequestError(`bare CR in ${section} ${quote(name)}`);
      throw new MalformedRequestError(`invalid character ${describeByte(b)} in ${section} ${quote(name)} value`);
    }
  }
  let ve = e;
  while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
  return [name, vs === ve ? '' : buf.toString('latin1', vs, ve)];
}

/** Applies the cross-field rules to a complete head and decides how its body is framed. */
export function buildRequestHead(line: RequestLine, headers: Array<[string, string]>): RequestHead {
  let hostHeader: string | undefined;
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  let connection: string | undefined;
  let upgradeHeader = false;

  for (const [name, value] of headers) {
    switch (name.length) {
      case 4:
        if (name.toLowerCase() !== 'host') break;
        if (hostHeader !== undefined) throw new MalformedRequestError('multiple Host headers');
        hostHeader = value;
        break;
      case 14:
        if (name.toLowerCase() !== 'content-length') break;
        checkContentLength(value);
        if (contentLength !== undefined && contentLength !== value) {
          throw new MalformedRequestError(
            `conflicting Content-Length values ${quote(contentLength)} and ${quote(value)}`,
          );
        }
        contentLength = value;
        break;
      case 17:
        if (name.toLowerCase() !== 'transfer-encoding') break;
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
        break;
      case 10:
        if (name.toLowerCase() !== 'connection') break;
        connection = connection === undefined ? value : `${connection}, ${value}`;
        break;
      case 7:
        if (name.toLowerCase() === 'upgrade' && value !== '') upgradeHeader = true;
        break;
    }
  }

  let bodyKind: RequestHead['bodyKind'] = 'none';
  let length = 0;
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) {
      throw new MalformedRequestError('both Content-Length and Transfer-Encoding');
    }
    if (line.version === '1.0') {
      throw new MalformedRequestError('Transfer-Encoding is not allowed in an HTTP/1.0 request');
    }
    const coding = transferEncoding.trim();
    if (coding === '') throw new MalformedRequestError('empty Transfer-Encoding');
    if (coding.toLowerCase() !== 'chunked') {
      throw new UnsupportedTransferEncodingError(
        `unsupported Transfer-Encoding ${quote(transferEncoding)}; only a sole "chunked" is supported`,
      );
    }
    bodyKind = 'chunked';
  } else if (contentLength !== undefined) {
    bodyKind = 'length';
    length = Number(contentLength);
  }

  const { host, port } = resolveAuthority(line, hostHeader);

  let close = false;
  let keepAliveToken = false;
  let upgradeToken = false;
  if (connection !== undefined) {
    for (const raw of connection.split(',')) {
      const token = raw.trim().toLowerCase();
      if (token === 'close') close = true;
      else if (token === 'keep-alive') keepAliveToken = true;
      else if (token === 'upgrade') upgradeToken = true;
    }
  }
  // RFC 9110 7.8: a server MUST ignore Upgrade in an HTTP/1.0 request.
  const upgrade = line.method === 'CONNECT' || (line.version === '1.1' && upgradeHeader && upgradeToken);
  const keepAlive = !close && (line.version === '1.1' || keepAliveToken);

  return {
    method: line.method,
    target: line.target,
    version: line.version,
    host,
    port,
    headers,
    upgrade,
    bodyKind,
    contentLength: length,
    keepAlive,
  };
}

function checkContentLength(value: string): void {
  let ok = value.length >= 1 && value.length <= MAX_CONTENT_LENGTH_DIGITS;
  for (let i = 0; ok && i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) ok = false;
  }
  if (!ok) {
    throw new MalformedRequestError(
      `invalid Content-Length ${quote(value)}: expected 1-${MAX_CONTENT_LENGTH_DIGITS} decimal digits`,
    );
  }
}

/**
 * RFC 9112 3.2: HTTP/1.1 needs exactly one Host; an absolute-form (or CONNECT authority-form)
 * target is the authority that counts. Unlike the RFC's "ignore Host", a Host that names a
 * different host than the target is refused, so the edge and the origin cannot disagree.
 */
function resolveAuthority(line: RequestLine, hostHeader: string | undefined): Authority {
  const fromTarget = targetAuthority(line);
  const fromHeader = hostHeader === undefined ? undefined : parseAuthority(hostHeader, 'Host header');
  if (fromHeader === undefined) {
    if (line.version === '1.1' || fromTarget === undefined) {
      throw new MalformedRequestError('missing Host header');
    }
    return fromTarget;
  }
  if (fromTarget === undefined) return fromHeader;
  if (
    fromTarget.host !== fromHeader.host ||
    (fromTarget.port !== null && fromHeader.port !== null && fromTarget.port !== fromHeader.port)
  ) {
    throw new MalformedRequestError(
      `Host header ${quote(hostHeader ?? '')} does not match the request-target authority`,
    );
  }
  return fromTarget;
}

function targetAuthority(line: RequestLine): Authority | undefined {
  const { method, target } = line;
  if (method === 'CONNECT') {
    const authority = parseAuthority(target, 'CONNECT target');
    if (authority.port === null) {
      throw new MalformedRequestError(`invalid CONNECT target ${quote(target)}: a port is required`);
    }
    return authority;
  }
  const first = target.charCodeAt(0);
  if (first === 0x2f /* / */) return undefined;
  if (target === '*') {
    if (method !== 'OPTIONS') {
      throw new MalformedRequestError(`asterisk-form request-target is only allowed for OPTIONS, not ${quote(method)}`);
    }
    return undefined;
  }
  const schemeEnd = target.indexOf('://');
  if (schemeEnd <= 0) {
    throw new MalformedRequestError(`invalid request-target ${quote(target)}: not origin-form or absolute-form`);
  }
  const scheme = target.slice(0, schemeEnd).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') {
    throw new MalformedRequestError(`unsupported scheme ${quote(scheme)} in absolute-form request-target`);
  }
  const authorityStart = schemeEnd + 3;
  let authorityEnd = authorityStart;
  while (authorityEnd < target.length) {
    const c = target.charCodeAt(authorityEnd);
    if (c === 0x2f || c === 0x3f || c === 0x23) break; // / ? #
    authorityEnd++;
  }
  const authority = target.slice(authorityStart, authorityEnd);
  if (authority.includes('@')) {
    throw new MalformedRequestError('userinfo in the request-target is not allowed');
  }
  return parseAuthority(authority, 'request-target authority');
}
