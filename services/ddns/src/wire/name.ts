import { DnsWireError } from './errors.ts';
import { HEADER_BYTES, MAX_LABEL_BYTES, MAX_NAME_WIRE_BYTES } from './constants.ts';

// Names as bytes. dns-packet decodes each label with `toString('utf-8')` and joins labels with
// dots, so a label holding 0x2e or a byte that is not UTF-8 comes back changed and cannot be
// echoed in the question as sent. Here a name is read as the offsets of its labels in the
// message; lookups use a key made from those bytes (ASCII letters folded, '.' and '\' escaped),
// and the bytes themselves are what a response copies.

/** A name read from a message: its labels as offsets into that message. */
export interface ReadName {
  /** labelStarts[i] is the offset of label i's first byte (after its length byte). */
  readonly labelStarts: number[];
  readonly labelLengths: number[];
  /** Offset just past the name where it was read (past the first pointer, if any). */
  readonly end: number;
  /** Uncompressed wire length (length bytes + labels + the root byte), at most 255. */
  readonly wireLength: number;
  /** True if the name used a compression pointer. */
  readonly compressed: boolean;
}

/**
 * Reads the name at `offset`. Pointers must point strictly before the first byte of the labels
 * read since the previous jump (RFC 1035 §4.1.4: "a prior occurrence"), which makes every chain of
 * pointers finite; the name may not exceed 255 bytes. Throws DnsWireError, never anything else.
 */
export function readName(buf: Uint8Array, offset: number): ReadName {
  const labelStarts: number[] = [];
  const labelLengths: number[] = [];
  let pos = offset;
  let segmentStart = offset;
  let end = -1;
  let wireLength = 1;
  for (;;) {
    if (pos >= buf.length) throw new DnsWireError('SLUICE_DNS_TRUNCATED', pos, 'name runs past the end of the message');
    const len = buf[pos]!;
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) throw new DnsWireError('SLUICE_DNS_TRUNCATED', pos, 'compression pointer cut short');
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (target < HEADER_BYTES || target >= segmentStart) {
        throw new DnsWireError('SLUICE_DNS_BAD_POINTER', pos, `compression pointer to ${target} does not point to an earlier name`);
      }
      if (end < 0) end = pos + 2;
      pos = target;
      segmentStart = target;
      continue;
    }
    if (kind !== 0) throw new DnsWireError('SLUICE_DNS_BAD_LABEL', pos, `label type 0x${kind.toString(16)} is not supported`);
    if (pos + 1 + len > buf.length) throw new DnsWireError('SLUICE_DNS_TRUNCATED', pos, 'label runs past the end of the message');
    wireLength += len + 1;
    if (wireLength > MAX_NAME_WIRE_BYTES) throw new DnsWireError('SLUICE_DNS_NAME_TOO_LONG', pos, 'name longer than 255 bytes');
    labelStarts.push(pos + 1);
    labelLengths.push(len);
    pos += len + 1;
  }
  return { labelStarts, labelLengths, end, wireLength, compressed: end !== pos + 1 };
}

const BACKSLASH = 0x5c;
const DOT = 0x2e;

// one scratch buffer for building keys: a key is at most 255 labels' bytes, each possibly escaped
const keyScratch = Buffer.allocUnsafe(2 * 255);

/**
 * The lookup key of labels `from..` of a read name: bytes as latin1 characters, ASCII upper case
 * folded (DNS compares names ignoring ASCII case only), '.' and '\' inside a label escaped, labels
 * joined with '.'; the root is ''. Zone data uses plain lower-case host names, which are their own keys.
 */
export function nameKey(buf: Uint8Array, name: ReadName, from = 0): string {
  const out = keyScratch;
  let n = 0;
  const count = name.labelStarts.length;
  for (let i = from; i < count; i++) {
    if (i > from) out[n++] = DOT;
    const start = name.labelStarts[i]!;
    const stop = start + name.labelLengths[i]!;
    for (let p = start; p < stop; p++) {
      const c = buf[p]!;
      if (c >= 0x41 && c <= 0x5a) out[n++] = c + 0x20;
      else {
        if (c === DOT || c === BACKSLASH) out[n++] = BACKSLASH;
        out[n++] = c;
      }
    }
  }
  return n === 0 ? '' : out.toString('latin1', 0, n);
}

/** A name this server writes: its labels as bytes and the key of each suffix (for compression). */
export interface WireName {
  readonly labels: readonly Uint8Array[];
  /** suffixKeys[i] is the key of labels i..end; suffixKeys[labels.length] is '' (the root). */
  readonly suffixKeys: readonly string[];
  readonly key: string;
  readonly wireLength: number;
}

/**
 * A WireName from a host name in text (`a.b.c`, lower or mixed case, optional trailing dot).
 * Only for names from configuration and events, which are plain host names.
 */
export function wireName(text: string): WireName {
  const t = text.endsWith('.') ? text.slice(0, -1) : text;
  const parts = t === '' ? [] : t.split('.');
  const labels = parts.map((p) => {
    if (p.length === 0 || p.length > MAX_LABEL_BYTES) throw new RangeError(`"${text}" has an empty or over-long label`);
    return new Uint8Array(Buffer.from(p.toLowerCase(), 'latin1'));
  });
  const suffixKeys: string[] = [];
  for (let i = 0; i <= parts.length; i++) suffixKeys.push(parts.slice(i).join('.').toLowerCase());
  const wireLength = labels.reduce((s, l) => s + l.length + 1, 1);
  if (wireLength > MAX_NAME_WIRE_BYTES) throw new RangeError(`"${text}" is longer than 255 bytes on the wire`);
  return { labels, suffixKeys, key: suffixKeys[0]!, wireLength };
}

/** The key of a zone-data name's parent ('' for a one-label name, null for the root). */
export function parentKey(key: string): string | null {
  // keys of zone data (host names) never hold escaped dots, so the first '.' ends the first label
  const i = key.indexOf('.');
  return i < 0 ? (key === '' ? null : '') : key.slice(i + 1);
}

/** Is `key` equal to `apex` or below it? */
export function isAtOrBelow(key: string, apex: string): boolean {
  if (apex === '') return true;
  if (key.length === apex.length) return key === apex;
  return key.length > apex.length && key.charCodeAt(key.length - apex.length - 1) === 0x2e && key.endsWith(apex) && !isEscapedDotAt(key, key.length - apex.length - 1);
}

function isEscapedDotAt(key: string, i: number): boolean {
  let slashes = 0;
  for (let j = i - 1; j >= 0 && key.charCodeAt(j) === 0x5c; j--) slashes++;
  return slashes % 2 === 1;
}

/** A WireName holding the bytes of a name read from a message (ASCII folded to lower case). */
export function wireNameFrom(buf: Uint8Array, name: ReadName): WireName {
  const labels = name.labelStarts.map((s, i) => {
    const l = new Uint8Array(buf.subarray(s, s + name.labelLengths[i]!));
    for (let j = 0; j < l.length; j++) {
      const c = l[j]!;
      if (c >= 0x41 && c <= 0x5a) l[j] = c + 0x20;
    }
    return l;
  });
  const suffixKeys: string[] = [];
  for (let i = 0; i <= labels.length; i++) suffixKeys.push(nameKey(buf, name, i));
  return { labels, suffixKeys, key: suffixKeys[0]!, wireLength: name.wireLength };
}
