// Parses the authority a request names (Host header, absolute-form or CONNECT target) into the
// normalized host and port the edge routes on.

import { isIPv6 } from 'node:net';
import { quote } from './error-text.ts';
import { MalformedRequestError } from './http-framing-errors.ts';
import { hostnameProblem, normalizeHostname } from './hostname.ts';

export interface Authority {
  /** Lowercased; trailing dot stripped; IPv6 literals keep their brackets: "[::1]". */
  host: string;
  port: number | null;
}

const IPV6_CHAR = /^[0-9a-fA-F:.]+$/;

/**
 * `what` names the source for error messages, e.g. 'Host header'. Accepts hostname (letters,
 * digits, '-', '.', '_'), IPv4 or bracketed IPv6, then an optional ":port" of 1-65535.
 */
export function parseAuthority(value: string, what: string): Authority {
  if (value.length === 0) throw new MalformedRequestError(`empty ${what}`);
  let hostPart: string;
  let portPart: string | null;
  if (value.charCodeAt(0) === 0x5b /* [ */) {
    const close = value.indexOf(']');
    if (close < 0) throw new MalformedRequestError(`invalid ${what} ${quote(value)}: unclosed '['`);
    const literal = value.slice(1, close);
    if (!IPV6_CHAR.test(literal) || !isIPv6(literal)) {
      throw new MalformedRequestError(`invalid ${what} ${quote(value)}: bad IPv6 literal`);
    }
    hostPart = `[${literal.toLowerCase()}]`;
    const rest = value.slice(close + 1);
    if (rest.length === 0) portPart = null;
    else if (rest.charCodeAt(0) === 0x3a /* : */) portPart = rest.slice(1);
    else throw new MalformedRequestError(`invalid ${what} ${quote(value)}: unexpected text after ']'`);
    return { host: hostPart, port: portPart === null ? null : parsePort(portPart, value, what) };
  }
  const colon = value.indexOf(':');
  hostPart = colon < 0 ? value : value.slice(0, colon);
  portPart = colon < 0 ? null : value.slice(colon + 1);
  const problem = hostnameProblem(hostPart);
  if (problem !== null) throw new MalformedRequestError(`invalid ${what} ${quote(value)}: ${problem}`);
  return {
    host: normalizeHostname(hostPart),
    port: portPart === null ? null : parsePort(portPart, value, what),
  };
}

function parsePort(text: string, value: string, what: string): number {
  let port = 0;
  let ok = text.length >= 1 && text.length <= 5 && text.charCodeAt(0) !== 0x30;
  for (let i = 0; ok && i < text.length; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) ok = false;
    else port = port * 10 + d;
  }
  if (!ok || port < 1 || port > 65535) {
    throw new MalformedRequestError(
      `invalid ${what} ${quote(value)}: port must be 1-65535 without sign or leading zeros`,
    );
  }
  return port;
}
