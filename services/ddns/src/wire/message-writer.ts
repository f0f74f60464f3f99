import { HEADER_BYTES, RRClass, RRType } from './constants.ts';
import { nameKey, type ReadName, type WireName } from './name.ts';

// Writes responses with name compression (RFC 1035 §4.1.4), which dns-packet's encoder does not
// do: every name it writes is whole, so a response with a few records of one zone costs several
// times the bytes and hits the 512-byte UDP limit early. Owner names and the names inside NS and
// SOA data are written as pointers to an earlier occurrence of their longest known suffix; the
// question is copied byte for byte as the client sent it (its case included, RFC 5452 / 0x20).
// RDATA of A, AAAA and TXT records comes pre-encoded from dns-packet (rdata.ts).

const MAX_MESSAGE = 65535;
const POINTER_LIMIT = 0x3fff;

export interface SoaFields {
  mname: WireName;
  rname: WireName;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export class MessageWriter {
  readonly buf: Buffer;
  length = 0;
  private readonly offsets = new Map<string, number>();
  /** The question, whose suffixes enter `offsets` only when a name is first compressed. */
  private pendingQuestion: { query: Uint8Array; name: ReadName; at: number; start: number } | undefined;
  private counts = [0, 0, 0, 0];
  /** Which count the records written now go to: 1 answer, 2 authority, 3 additional. */
  private section = 1;

  constructor(buf: Buffer = Buffer.allocUnsafe(MAX_MESSAGE)) {
    this.buf = buf;
  }

  reset(): void {
    this.length = 0;
    this.pendingQuestion = undefined;
    if (this.offsets.size > 0) this.offsets.clear();
    this.counts = [0, 0, 0, 0];
    this.section = 1;
  }

  /** The 12-byte header; counts are filled in by `finish()`. */
  header(id: number, flags: number): void {
    const b = this.buf;
    b[0] = id >> 8;
    b[1] = id & 0xff;
    b[2] = flags >> 8;
    b[3] = flags & 0xff;
    b.fill(0, 4, HEADER_BYTES);
    this.length = HEADER_BYTES;
  }

  setFlags(flags: number): void {
    this.buf[2] = flags >> 8;
    this.buf[3] = flags & 0xff;
  }

  /**
   * Copies the question [start, end) from the query (it is never compressed: its name is the first
   * in the message) and remembers where each suffix of its name now lives.
   */
  copyQuestion(query: Uint8Array, start: number, end: number, name: ReadName): void {
    const at = this.length;
    this.buf.set(query.subarray(start, end), at);
    this.length += end - start;
    this.counts[0] = 1;
    // most answers only point at the question (questionPointer): build its suffix keys lazily
    this.pendingQuestion = { query, name, at, start };
  }

  private questionSuffixes(): void {
    const q = this.pendingQuestion;
    if (!q) return;
    this.pendingQuestion = undefined;
    for (let i = 0; i < q.name.labelStarts.length; i++) {
      const key = nameKey(q.query, q.name, i);
      if (!this.offsets.has(key)) this.offsets.set(key, q.at + (q.name.labelStarts[i]! - 1 - q.start));
    }
  }

  startSection(section: 1 | 2 | 3): void {
    this.section = section;
  }

  /** Writes `name`, compressed against every name written so far. */
  name(name: WireName): void {
    this.questionSuffixes();
    const b = this.buf;
    const n = name.labels.length;
    for (let i = 0; i < n; i++) {
      const key = name.suffixKeys[i]!;
      const seen = this.offsets.get(key);
      if (seen !== undefined) {
        b[this.length] = 0xc0 | (seen >> 8);
        b[this.length + 1] = seen & 0xff;
        this.length += 2;
        return;
      }
      if (this.length <= POINTER_LIMIT) this.offsets.set(key, this.length);
      const label = name.labels[i]!;
      b[this.length] = label.length;
      b.set(label, this.length + 1);
      this.length += label.length + 1;
    }
    b[this.length++] = 0;
  }

  /** A name uncompressed and as given (TSIG key and algorithm names must not be compressed). */
  plainName(name: WireName): void {
    for (const label of name.labels) {
      this.buf[this.length] = label.length;
      this.buf.set(label, this.length + 1);
      this.length += label.length + 1;
    }
    this.buf[this.length++] = 0;
  }

  /** A pointer to the question's name: the owner of every answer synthesised for it. */
  questionPointer(): void {
    this.buf[this.length] = 0xc0;
    this.buf[this.length + 1] = HEADER_BYTES;
    this.length += 2;
  }

  private typeClassTtl(type: number, rclass: number, ttl: number): void {
    const b = this.buf;
    const p = this.length;
    b[p] = type >> 8;
    b[p + 1] = type & 0xff;
    b[p + 2] = rclass >> 8;
    b[p + 3] = rclass & 0xff;
    b.writeUInt32BE(ttl >>> 0, p + 4);
    this.length += 8;
  }

  private counted(): void {
    this.counts[this.section]!++;
  }

  /** A record whose RDATA (with its 2-byte length in front) was encoded beforehand. */
  record(owner: WireName | null, type: number, ttl: number, rdataWithLength: Uint8Array, rclass: number = RRClass.IN): void {
    if (owner === null) this.questionPointer();
    else this.name(owner);
    this.typeClassTtl(type, rclass, ttl);
    this.buf.set(rdataWithLength, this.length);
    this.length += rdataWithLength.length;
    this.counted();
  }

  /** NS (or CNAME): the target name compressed inside the RDATA. */
  nameRecord(owner: WireName | null, type: number, ttl: number, target: WireName): void {
    if (owner === null) this.questionPointer();
    else this.name(owner);
    this.typeClassTtl(type, RRClass.IN, ttl);
    const lenAt = this.length;
    this.length += 2;
    this.name(target);
    this.buf.writeUInt16BE(this.length - lenAt - 2, lenAt);
    this.counted();
  }

  soa(owner: WireName, ttl: number, soa: SoaFields): void {
    this.name(owner);
    this.typeClassTtl(RRType.SOA, RRClass.IN, ttl);
    const lenAt = this.length;
    this.length += 2;
    this.name(soa.mname);
    this.name(soa.rname);
    const b = this.buf;
    b.writeUInt32BE(soa.serial >>> 0, this.length);
    b.writeUInt32BE(soa.refresh, this.length + 4);
    b.writeUInt32BE(soa.retry, this.length + 8);
    b.writeUInt32BE(soa.expire, this.length + 12);
    b.writeUInt32BE(soa.minimum, this.length + 16);
    this.length += 20;
    b.writeUInt16BE(this.length - lenAt - 2, lenAt);
    this.counted();
  }

  /** The OPT pseudo-record (RFC 6891): our UDP size, the upper bits of an extended RCODE. */
  opt(udpSize: number, extendedRcode: number): void {
    const b = this.buf;
    const p = this.length;
    b[p] = 0; // root owner
    b.writeUInt16BE(RRType.OPT, p + 1);
    b.writeUInt16BE(udpSize, p + 3);
    b[p + 5] = extendedRcode >> 4;
    b[p + 6] = 0; // version 0
    b[p + 7] = 0; // DO and Z: we sign nothing
    b[p + 8] = 0;
    b.writeUInt16BE(0, p + 9); // no options
    this.length += 11;
    this.counts[3]!++;
  }

  /** Raw bytes appended as one more additional record (a TSIG record built by tsig.ts). */
  rawAdditional(bytes: Uint8Array): void {
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
    this.counts[3]!++;
  }

  /** Writes the four counts into the header and returns the message (a view of `buf`). */
  finish(): Buffer {
    const b = this.buf;
    for (let i = 0; i < 4; i++) b.writeUInt16BE(this.counts[i]!, 4 + i * 2);
    return b.subarray(0, this.length);
  }
}
