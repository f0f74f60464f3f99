/** The DNS numbers this server uses (RFC 1035, 2136, 6891, 8945), as `as const` maps. */
export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  HINFO: 13,
  TXT: 16,
  AAAA: 28,
  OPT: 41,
  TSIG: 250,
  IXFR: 251,
  AXFR: 252,
  MAILB: 253,
  MAILA: 254,
  ANY: 255,
} as const;

export const RRClass = { IN: 1, CH: 3, HS: 4, NONE: 254, ANY: 255 } as const;

export const Opcode = { QUERY: 0, IQUERY: 1, STATUS: 2, NOTIFY: 4, UPDATE: 5 } as const;

export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
  /** Extended (needs OPT): the query's EDNS version is not supported. */
  BADVERS: 16,
} as const;

/** TSIG error field values (RFC 8945). */
export const TsigError = { NOERROR: 0, BADSIG: 16, BADKEY: 17, BADTIME: 18, BADTRUNC: 22 } as const;

export const Flag = {
  QR: 0x8000,
  AA: 0x0400,
  TC: 0x0200,
  RD: 0x0100,
  RA: 0x0080,
  AD: 0x0020,
  CD: 0x0010,
} as const;

export const HEADER_BYTES = 12;
/** Without EDNS a UDP response may not exceed this (RFC 1035 §4.2.1). */
export const CLASSIC_UDP_LIMIT = 512;
export const MAX_NAME_WIRE_BYTES = 255;
export const MAX_LABEL_BYTES = 63;

const rcodeNames = Object.fromEntries(Object.entries(Rcode).map(([k, v]) => [v, k])) as Record<number, string>;
export function rcodeName(rcode: number): string {
  return rcodeNames[rcode] ?? `RCODE${rcode}`;
}
