import dnsPacket from 'dns-packet';

// RDATA of the record types whose data holds no names comes from dns-packet's per-type codecs.
// @types/dns-packet declares only the whole-packet API, so the part used here is typed locally.

interface RdataCodec<T> {
  /** Writes RDLENGTH (2 bytes) then the data. */
  encode(data: T, buf?: Buffer, offset?: number): Buffer;
  decode(buf: Buffer, offset?: number): T;
}
interface RdataCodecs {
  a: RdataCodec<string>;
  aaaa: RdataCodec<string>;
  txt: RdataCodec<Buffer[]>;
  hinfo: RdataCodec<{ cpu: string; os: string }>;
}
const codecs = dnsPacket as unknown as RdataCodecs;

/** An A record's RDATA, RDLENGTH in front: what MessageWriter.record appends. */
export function encodeA(ipv4: string): Uint8Array {
  return new Uint8Array(codecs.a.encode(ipv4));
}

export function encodeAaaa(ipv6: string): Uint8Array {
  return new Uint8Array(codecs.aaaa.encode(ipv6));
}

export function decodeA(rdataWithLength: Uint8Array): string {
  return codecs.a.decode(Buffer.from(rdataWithLength));
}

export function decodeAaaa(rdataWithLength: Uint8Array): string {
  return codecs.aaaa.decode(Buffer.from(rdataWithLength));
}

/** TXT RDATA from character-strings (each at most 255 bytes). */
export function encodeTxt(strings: readonly Uint8Array[]): Uint8Array {
  for (const s of strings) if (s.length > 255) throw new RangeError(`TXT character-string of ${s.length} bytes (at most 255)`);
  return new Uint8Array(codecs.txt.encode(strings.map((s) => Buffer.from(s))));
}

/**
 * The character-strings of TXT RDATA given without its length (as it sits in a message), or null
 * if they do not exactly fill it. At least one string is required (RFC 1035 §3.3.14).
 */
export function decodeTxt(rdata: Uint8Array): Buffer[] | null {
  if (rdata.length === 0 || rdata.length > 65533) return null;
  const withLength = Buffer.allocUnsafe(rdata.length + 2);
  withLength.writeUInt16BE(rdata.length, 0);
  withLength.set(rdata, 2);
  try {
    const strings = codecs.txt.decode(withLength);
    const used = strings.reduce((n, s) => n + s.length + 1, 0);
    return used === rdata.length ? strings : null;
  } catch {
    return null;
  }
}

/** RDATA bytes with their 2-byte length in front (what MessageWriter.record takes). */
export function withLength(rdata: Uint8Array): Uint8Array {
  const out = new Uint8Array(rdata.length + 2);
  out[0] = rdata.length >> 8;
  out[1] = rdata.length & 0xff;
  out.set(rdata, 2);
  return out;
}

/** HINFO "RFC8482" "": the whole answer to a query for ANY (RFC 8482 §4.2). */
export const RFC8482_HINFO: Uint8Array = new Uint8Array(codecs.hinfo.encode({ cpu: 'RFC8482', os: '' }));
