/**
 * Byte-transport frames, the payload of every data-subject message. Binary and tiny: a type
 * byte, then fixed fields. Only DATA carries bytes; the trace context rides on the opening
 * control messages, never here.
 *
 *  DATA [1][seq u32][bytes…]        FIN  [3][seq u32]          (FIN takes the next seq)
 *  ACK  [2][seq u32][consumed f64]  NACK [5][seq u32]          RST  [4][reason utf8]
 */
export const FrameType = { DATA: 1, ACK: 2, FIN: 3, RST: 4, NACK: 5 } as const;

export function dataFrame(seq: number, bytes: Uint8Array): Buffer {
  const f = Buffer.allocUnsafe(5 + bytes.length);
  f[0] = FrameType.DATA;
  f.writeUInt32BE(seq, 1);
  f.set(bytes, 5);
  return f;
}

export function finFrame(seq: number): Buffer {
  const f = Buffer.allocUnsafe(5);
  f[0] = FrameType.FIN;
  f.writeUInt32BE(seq, 1);
  return f;
}

export function ackFrame(seq: number, consumed: number): Buffer {
  const f = Buffer.allocUnsafe(13);
  f[0] = FrameType.ACK;
  f.writeUInt32BE(seq, 1);
  f.writeDoubleBE(consumed, 5);
  return f;
}

export function nackFrame(seq: number): Buffer {
  const f = Buffer.allocUnsafe(5);
  f[0] = FrameType.NACK;
  f.writeUInt32BE(seq, 1);
  return f;
}

export function rstFrame(reason: string): Buffer {
  const r = Buffer.from(reason.slice(0, 200), 'utf8');
  const f = Buffer.allocUnsafe(1 + r.length);
  f[0] = FrameType.RST;
  r.copy(f, 1);
  return f;
}

export function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) >>> 0) + (b[off + 1]! << 16) + (b[off + 2]! << 8) + b[off + 3]!;
}

export function readF64(b: Uint8Array, off: number): number {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).readDoubleBE(off);
}
