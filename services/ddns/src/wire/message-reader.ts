import { DnsWireError } from './errors.ts';
import { HEADER_BYTES, Opcode, RRType } from './constants.ts';
import { nameKey, readName, type ReadName } from './name.ts';

// The one reader of attacker bytes in this service. It walks the whole message once, bounded by
// the message's own length (every record is at least 11 bytes, so no count can make it loop), and
// throws DnsWireError for anything malformed. dns-packet's decoder is not used on this path: it
// turns labels into text (see name.ts), does not know TSIG, and allocates an object per record.

export interface Header {
  id: number;
  flags: number;
  opcode: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

export interface Question {
  name: ReadName;
  /** Lookup key (name.ts `nameKey`). */
  key: string;
  qtype: number;
  qclass: number;
  /** Offsets of the question (name + type + class) in the message: what a response echoes. */
  start: number;
  end: number;
}

export interface ResourceRecord {
  name: ReadName;
  key: string;
  type: number;
  rclass: number;
  ttl: number;
  rdataStart: number;
  rdataLength: number;
  /** Offset of the record's first byte. */
  start: number;
}

export interface EdnsOpt {
  /** Advertised UDP payload size (values below 512 count as 512). */
  udpSize: number;
  version: number;
  dnssecOk: boolean;
}

export interface TsigRecord {
  /** Offset where the TSIG record starts: the signed part of the message ends here. */
  start: number;
  keyName: ReadName;
  keyKey: string;
  algorithm: ReadName;
  algorithmKey: string;
  timeSigned: number;
  fudge: number;
  mac: Uint8Array;
  originalId: number;
  error: number;
  other: Uint8Array;
}

export interface ReadMessage {
  header: Header;
  /** The first question (queries have exactly one; updates call it the zone). */
  question: Question | undefined;
  /** Answer + authority records, kept only for UPDATE (prerequisites, then updates). */
  prerequisites: ResourceRecord[];
  updates: ResourceRecord[];
  opt: EdnsOpt | undefined;
  tsig: TsigRecord | undefined;
}

export function readHeader(buf: Uint8Array): Header {
  if (buf.length < HEADER_BYTES) throw new DnsWireError('SLUICE_DNS_SHORT_HEADER', buf.length, `message of ${buf.length} bytes is shorter than a header`);
  const flags = (buf[2]! << 8) | buf[3]!;
  return {
    id: (buf[0]! << 8) | buf[1]!,
    flags,
    opcode: (flags >> 11) & 0xf,
    qdcount: (buf[4]! << 8) | buf[5]!,
    ancount: (buf[6]! << 8) | buf[7]!,
    nscount: (buf[8]! << 8) | buf[9]!,
    arcount: (buf[10]! << 8) | buf[11]!,
  };
}

function u16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

function readRecordHead(buf: Uint8Array, offset: number): ResourceRecord {
  const name = readName(buf, offset);
  const p = name.end;
  if (p + 10 > buf.length) throw new DnsWireError('SLUICE_DNS_TRUNCATED', p, 'record header cut short');
  const rdataLength = u16(buf, p + 8);
  if (p + 10 + rdataLength > buf.length) throw new DnsWireError('SLUICE_DNS_TRUNCATED', p + 8, 'record data runs past the end of the message');
  return {
    name,
    key: '',
    type: u16(buf, p),
    rclass: u16(buf, p + 2),
    ttl: ((buf[p + 4]! << 24) >>> 0) + ((buf[p + 5]! << 16) | (buf[p + 6]! << 8) | buf[p + 7]!),
    rdataStart: p + 10,
    rdataLength,
    start: offset,
  };
}

/** The RDATA of a TSIG record (RFC 8945 §4.2). */
function readTsig(buf: Uint8Array, rr: ResourceRecord): TsigRecord {
  const end = rr.rdataStart + rr.rdataLength;
  const bad = (why: string, at: number): never => {
    throw new DnsWireError('SLUICE_DNS_BAD_TSIG', at, `TSIG ${why}`);
  };
  if (rr.name.compressed) bad('key name is compressed', rr.start);
  const algorithm = readName(buf, rr.rdataStart);
  if (algorithm.compressed || algorithm.end > end) bad('algorithm name is compressed or too long', rr.rdataStart);
  let p = algorithm.end;
  if (p + 10 > end) bad('record cut short', p);
  const timeSigned = u16(buf, p) * 2 ** 32 + ((buf[p + 2]! << 24) >>> 0) + ((buf[p + 3]! << 16) | (buf[p + 4]! << 8) | buf[p + 5]!);
  const fudge = u16(buf, p + 6);
  const macSize = u16(buf, p + 8);
  p += 10;
  if (p + macSize + 6 > end) bad('MAC runs past the record', p);
  const mac = buf.subarray(p, p + macSize);
  p += macSize;
  const originalId = u16(buf, p);
  const error = u16(buf, p + 2);
  const otherLen = u16(buf, p + 4);
  p += 6;
  if (p + otherLen !== end) bad('other data does not end the record', p);
  return {
    start: rr.start,
    keyName: rr.name,
    keyKey: nameKey(buf, rr.name),
    algorithm,
    algorithmKey: nameKey(buf, algorithm),
    timeSigned,
    fudge,
    mac,
    originalId,
    error,
    other: buf.subarray(p, end),
  };
}

/**
 * Reads a whole message. Throws DnsWireError for a short header (callers drop those) and for any
 * malformed part after it (callers answer FORMERR). Only the first question is kept; a second one
 * is read (and checked) but not returned.
 */
export function readMessage(buf: Uint8Array): ReadMessage {
  const header = readHeader(buf);
  let p = HEADER_BYTES;
  let question: Question | undefined;
  for (let i = 0; i < header.qdcount; i++) {
    const start = p;
    const name = readName(buf, p);
    p = name.end;
    if (p + 4 > buf.length) throw new DnsWireError('SLUICE_DNS_TRUNCATED', p, 'question cut short');
    if (i === 0) question = { name, key: nameKey(buf, name), qtype: u16(buf, p), qclass: u16(buf, p + 2), start, end: p + 4 };
    p += 4;
  }
  const keep = header.opcode === Opcode.UPDATE;
  const prerequisites: ResourceRecord[] = [];
  const updates: ResourceRecord[] = [];
  for (let i = 0; i < header.ancount + header.nscount; i++) {
    const rr = readRecordHead(buf, p);
    p = rr.rdataStart + rr.rdataLength;
    if (keep) {
      rr.key = nameKey(buf, rr.name);
      (i < header.ancount ? prerequisites : updates).push(rr);
    }
  }
  let opt: EdnsOpt | undefined;
  let tsig: TsigRecord | undefined;
  for (let i = 0; i < header.arcount; i++) {
    const rr = readRecordHead(buf, p);
    p = rr.rdataStart + rr.rdataLength;
    if (tsig) throw new DnsWireError('SLUICE_DNS_BAD_TSIG', rr.start, 'TSIG is not the last record');
    if (rr.type === RRType.OPT) {
      if (opt) throw new DnsWireError('SLUICE_DNS_BAD_OPT', rr.start, 'more than one OPT record');
      if (rr.name.labelStarts.length !== 0) throw new DnsWireError('SLUICE_DNS_BAD_OPT', rr.start, 'OPT owner is not the root');
      opt = { udpSize: Math.max(512, rr.rclass), version: (rr.ttl >>> 16) & 0xff, dnssecOk: (rr.ttl & 0x8000) !== 0 };
    } else if (rr.type === RRType.TSIG) {
      tsig = readTsig(buf, rr);
    }
  }
  if (p !== buf.length) throw new DnsWireError('SLUICE_DNS_TRAILING_BYTES', p, `${buf.length - p} bytes after the last record`);
  return { header, question, prerequisites, updates, opt, tsig };
}
