import { createHmac, timingSafeEqual } from 'node:crypto';
import { RRClass, RRType, TsigError } from './constants.ts';
import type { TsigRecord } from './message-reader.ts';
import { wireName, type WireName } from './name.ts';

// TSIG (RFC 8945) with HMAC-SHA256, which dns-packet does not implement: the MAC covers the
// message as signed (the TSIG record removed, ARCOUNT decremented, the original ID restored) and
// the TSIG variables in canonical form; a response's MAC also covers the request's MAC.

export const HMAC_SHA256 = 'hmac-sha256';
const HMAC_SHA256_NAME = wireName(HMAC_SHA256);
const MAC_BYTES = 32;

export interface TsigKey {
  name: WireName;
  secret: Buffer;
}

export type TsigVerdict =
  | { ok: true; key: TsigKey; request: TsigRecord }
  /** `key` is set when the response must be signed (BADTIME); otherwise it goes unsigned. */
  | { ok: false; error: number; key: TsigKey | undefined; request: TsigRecord };

function u48(n: number): Buffer {
  const b = Buffer.allocUnsafe(6);
  b.writeUInt16BE(Math.floor(n / 2 ** 32) & 0xffff, 0);
  b.writeUInt32BE(n % 2 ** 32, 2);
  return b;
}

function canonical(name: WireName): Buffer {
  const parts: Buffer[] = [];
  for (const l of name.labels) parts.push(Buffer.from([l.length]), Buffer.from(l));
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** The TSIG variables (RFC 8945 §4.3.3) in the order the MAC covers them. */
function variables(key: TsigKey, timeSigned: number, fudge: number, error: number, other: Uint8Array): Buffer {
  const fixed = Buffer.allocUnsafe(6);
  fixed.writeUInt16BE(RRClass.ANY, 0);
  fixed.writeUInt32BE(0, 2);
  const tail = Buffer.allocUnsafe(6);
  tail.writeUInt16BE(fudge, 0);
  tail.writeUInt16BE(error, 2);
  tail.writeUInt16BE(other.length, 4);
  return Buffer.concat([canonical(key.name), fixed, canonical(HMAC_SHA256_NAME), u48(timeSigned), tail, other]);
}

/** Checks a request's TSIG record. `nowSeconds` is the server's clock. */
export function verifyTsig(message: Uint8Array, rec: TsigRecord, keys: ReadonlyMap<string, TsigKey>, nowSeconds: number): TsigVerdict {
  const key = keys.get(rec.keyKey);
  if (!key || rec.algorithmKey !== HMAC_SHA256) return { ok: false, error: TsigError.BADKEY, key: undefined, request: rec };
  if (rec.mac.length !== MAC_BYTES) return { ok: false, error: rec.mac.length < MAC_BYTES ? TsigError.BADTRUNC : TsigError.BADSIG, key: undefined, request: rec };
  const signed = Buffer.from(message.subarray(0, rec.start));
  signed.writeUInt16BE(rec.originalId, 0);
  signed.writeUInt16BE(signed.readUInt16BE(10) - 1, 10);
  const mac = createHmac('sha256', key.secret).update(signed).update(variables(key, rec.timeSigned, rec.fudge, rec.error, rec.other)).digest();
  if (!timingSafeEqual(mac, rec.mac)) return { ok: false, error: TsigError.BADSIG, key: undefined, request: rec };
  if (Math.abs(nowSeconds - rec.timeSigned) > rec.fudge) return { ok: false, error: TsigError.BADTIME, key, request: rec };
  return { ok: true, key, request: rec };
}

/**
 * The TSIG record for a response. `response` is the finished message without it (its ARCOUNT does
 * not count it yet). With `key` undefined the record is unsigned (BADKEY/BADSIG: MAC size 0).
 */
export function signResponse(response: Uint8Array, request: TsigRecord, requestKeyName: WireName, key: TsigKey | undefined, error: number, nowSeconds: number): Uint8Array {
  const keyName = key?.name ?? requestKeyName;
  const badTime = error === TsigError.BADTIME;
  // BADTIME: the request's time in Time Signed, ours in Other Data (RFC 8945 §5.2.3)
  const timeSigned = badTime ? request.timeSigned : nowSeconds;
  const other = badTime ? u48(nowSeconds) : Buffer.alloc(0);
  const fudge = 300;
  let mac: Buffer = Buffer.alloc(0);
  if (key) {
    const reqMac = Buffer.allocUnsafe(2);
    reqMac.writeUInt16BE(request.mac.length, 0);
    const copy = Buffer.from(response);
    copy.writeUInt16BE(request.originalId, 0);
    mac = createHmac('sha256', key.secret)
      .update(reqMac)
      .update(request.mac)
      .update(copy)
      .update(variables({ name: keyName, secret: key.secret }, timeSigned, fudge, error, other))
      .digest();
  }
  const head = Buffer.allocUnsafe(10);
  head.writeUInt16BE(RRType.TSIG, 0);
  head.writeUInt16BE(RRClass.ANY, 2);
  head.writeUInt32BE(0, 4);
  const alg = canonical(HMAC_SHA256_NAME);
  const rdataFixed = Buffer.allocUnsafe(10);
  u48(timeSigned).copy(rdataFixed, 0);
  rdataFixed.writeUInt16BE(fudge, 6);
  rdataFixed.writeUInt16BE(mac.length, 8);
  const rdataTail = Buffer.allocUnsafe(6);
  rdataTail.writeUInt16BE(request.originalId, 0);
  rdataTail.writeUInt16BE(error, 2);
  rdataTail.writeUInt16BE(other.length, 4);
  const rdata = Buffer.concat([alg, rdataFixed, mac, rdataTail, other]);
  head.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([canonical(keyName), head, rdata]);
}

/** Signs a request (for tests and tools; the server only verifies requests). */
export function signRequest(message: Uint8Array, key: TsigKey, nowSeconds: number, fudge = 300): Buffer {
  const id = (message[0]! << 8) | message[1]!;
  const mac = createHmac('sha256', key.secret).update(message).update(variables(key, nowSeconds, fudge, 0, new Uint8Array(0))).digest();
  const rdata = Buffer.concat([canonical(HMAC_SHA256_NAME), u48(nowSeconds), Buffer.from([fudge >> 8, fudge & 0xff, 0, MAC_BYTES]), mac, Buffer.from([id >> 8, id & 0xff, 0, 0, 0, 0])]);
  const head = Buffer.allocUnsafe(10);
  head.writeUInt16BE(RRType.TSIG, 0);
  head.writeUInt16BE(RRClass.ANY, 2);
  head.writeUInt32BE(0, 4);
  head.writeUInt16BE(rdata.length, 8);
  const out = Buffer.concat([Buffer.from(message), canonical(key.name), head, rdata]);
  out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  return out;
}
