import { Duplex } from 'node:stream';
import { FrameType, ackFrame, dataFrame, finFrame, nackFrame, readF64, readU32, rstFrame } from './frames.ts';
import type { InflightPool } from './inflight-pool.ts';
import { MalformedFrameError, PeerResetError, SequenceGapError } from './errors.ts';

export interface SessionOptions {
  /** Bytes the sender may have in flight beyond what the receiver has written out. */
  windowBytes: number;
  /** Largest DATA payload per message. */
  chunkBytes: number;
  /**
   * jetstream: keep what the peer has not acknowledged and publish it again after a gap, a
   * NACK or a silence (the stream may not have stored it across a reconnect); drop duplicates.
   * core: a gap aborts the connection.
   */
  reliable: boolean;
  /** Shared by every session of a process: bounds the total in flight. */
  pool?: InflightPool;
}

interface Unacked {
  seq: number;
  frame: Buffer;
}

/**
 * One side of one tunneled connection: a Duplex whose writes become DATA frames on the outbound
 * subject and whose reads are the DATA frames of the inbound subject, in order. Flow control is a
 * credit window: the receiver reports how many bytes it has handed on (ACK), and `_write` holds
 * its callback while the window is full, so a slow reader stalls the writer instead of growing a
 * buffer.
 */
export class TunnelSession extends Duplex {
  readonly connId: string;
  /** Peer id: the agent (edge side) or the edge (agent side). */
  readonly peerId: string;
  lastHeard = Date.now();
  lastAckProgress = Date.now();

  private readonly send: (frame: Buffer) => void;
  private readonly opts: SessionOptions;
  private readonly ackThreshold: number;
  // sending
  private nextSeq = 1;
  private sentBytes = 0;
  private peerConsumed = 0;
  private unacked: Unacked[] = [];
  private blockedWrite: (() => void) | null = null;
  private waitingForPool = false;
  private finSent = false;
  private finAcked = false;
  // receiving
  private expectSeq = 1;
  private receivedBytes = 0;
  private ackedConsumed = 0;
  private lastNackAt = 0;
  private finReceived = false;
  /** Set when the peer closed after its FIN: our further writes are dropped. */
  peerStoppedReading = false;
  private resetReceived = false;
  private ackTimer: NodeJS.Timeout | null = null;
  bytesIn = 0;
  bytesOut = 0;

  constructor(connId: string, peerId: string, send: (frame: Buffer) => void, opts: SessionOptions) {
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 64 * 1024 });
    this.connId = connId;
    this.peerId = peerId;
    this.send = send;
    this.opts = opts;
    this.ackThreshold = Math.max(16 * 1024, Math.floor(opts.windowBytes / 4));
  }

  /** True once both directions ended and our FIN is acknowledged (or it never mattered). */
  get settled(): boolean {
    return this.destroyed && (!this.opts.reliable || this.resetReceived || !this.finSent || this.finAcked);
  }

  get writeBlocked(): boolean {
    return this.blockedWrite !== null;
  }

  get hasUnacked(): boolean {
    return this.unacked.length > 0;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.peerStoppedReading) return cb();
    const max = this.opts.chunkBytes;
    for (let off = 0; off < chunk.length; off += max) {
      const part = off === 0 && chunk.length <= max ? chunk : chunk.subarray(off, off + max);
      const seq = this.nextSeq++;
      const frame = dataFrame(seq, part);
      if (this.opts.reliable) this.unacked.push({ seq, frame });
      this.sentBytes += part.length;
      this.send(frame);
    }
    this.bytesOut += chunk.length;
    this.opts.pool?.charge(chunk.length);
    this.blockedWrite = () => cb();
    this.tryUnblock();
  }

  /** Lets the pending write complete once both the window and the process pool have room. */
  private tryUnblock(): void {
    if (!this.blockedWrite) return;
    if (this.sentBytes - this.peerConsumed >= this.opts.windowBytes) return; // an ACK will call again
    const pool = this.opts.pool;
    if (pool?.full) {
      if (!this.waitingForPool) {
        this.waitingForPool = true;
        pool.whenRoom(() => {
          this.waitingForPool = false;
          this.tryUnblock();
        });
      }
      return;
    }
    const cb = this.blockedWrite;
    this.blockedWrite = null;
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    const seq = this.nextSeq++;
    const frame = finFrame(seq);
    if (this.opts.reliable) this.unacked.push({ seq, frame });
    this.finSent = true;
    this.send(frame);
    cb();
  }

  override _read(): void {
    this.maybeAck(false);
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    const clean = this.finSent && this.finReceived;
    if (!clean && !this.resetReceived) {
      this.send(rstFrame(err ? err.message : 'closed'));
      this.unacked = [];
    } else if (clean) {
      // tell the peer we have everything, so it can forget its copy
      this.send(ackFrame(this.expectSeq - 1, this.receivedBytes));
    }
    // what the peer never acknowledged no longer occupies the process pool
    this.opts.pool?.release(this.sentBytes - Math.min(this.peerConsumed, this.sentBytes));
    this.peerConsumed = this.sentBytes;
    const blocked = this.blockedWrite;
    this.blockedWrite = null;
    blocked?.();
    cb(err);
  }

  /** Handles one inbound frame (the multiplexer calls this in arrival order). */
  onFrame(data: Uint8Array): void {
    this.lastHeard = Date.now();
    const type = data[0];
    if (type === FrameType.DATA || type === FrameType.FIN) {
      if (data.length < 5) return this.fail(new MalformedFrameError('short DATA/FIN'));
      const seq = readU32(data, 1);
      if (seq !== this.expectSeq) {
        if (seq < this.expectSeq) {
          if (this.opts.reliable) this.maybeAck(true); // a resend: tell the sender where we are
          return;
        }
        if (!this.opts.reliable) return this.fail(new SequenceGapError(this.expectSeq, seq));
        const now = Date.now();
        if (now - this.lastNackAt > 100) {
          this.lastNackAt = now;
          this.send(nackFrame(this.expectSeq));
        }
        return;
      }
      this.expectSeq++;
      if (type === FrameType.FIN) {
        this.finReceived = true;
        if (!this.destroyed) this.push(null);
        this.maybeAck(true);
        return;
      }
      if (this.destroyed || this.finReceived) return;
      const payload = data.subarray(5);
      this.receivedBytes += payload.length;
      this.bytesIn += payload.length;
      this.push(payload);
      this.maybeAck(false);
      return;
    }
    if (type === FrameType.ACK) {
      if (data.length < 13) return this.fail(new MalformedFrameError('short ACK'));
      const seq = readU32(data, 1);
      const consumed = readF64(data, 5);
      if (consumed > this.peerConsumed) {
        this.opts.pool?.release(Math.min(consumed, this.sentBytes) - Math.min(this.peerConsumed, this.sentBytes));
        this.peerConsumed = consumed;
      }
      if (this.unacked.length > 0 && this.unacked[0]!.seq <= seq) {
        let i = 0;
        while (i < this.unacked.length && this.unacked[i]!.seq <= seq) i++;
        this.unacked = this.unacked.slice(i);
        this.lastAckProgress = Date.now();
        this.rtoBackoff = 0;
      }
      if (this.finSent && seq >= this.nextSeq - 1) this.finAcked = true;
      this.tryUnblock();
      return;
    }
    if (type === FrameType.NACK) {
      if (data.length < 5) return this.fail(new MalformedFrameError('short NACK'));
      this.retransmit(readU32(data, 1));
      return;
    }
    if (type === FrameType.RST) {
      this.resetReceived = true;
      this.unacked = [];
      if (this.finReceived) {
        // The peer sent all it had and then stopped reading (an upstream that answered and
        // closed). Nothing was lost: deliver what is buffered, then close without an error.
        this.peerStoppedReading = true;
        if (this.readableEnded) this.destroy();
        else this.once('end', () => this.destroy());
        return;
      }
      this.destroy(new PeerResetError(Buffer.from(data.subarray(1)).toString('utf8') || 'reset'));
      return;
    }
    this.fail(new MalformedFrameError(`unknown frame type ${String(type)}`));
  }

  /** Consecutive silent timeouts; each doubles the wait before the next resend. */
  rtoBackoff = 0;
  private lastResendAt = 0;

  /** Publishes again every kept frame from `fromSeq` on (jetstream mode). */
  retransmit(fromSeq = 0): void {
    const now = Date.now();
    // a burst of NACKs for one gap asks for one resend, not one per NACK
    if (fromSeq > 0 && now - this.lastResendAt < 100) return;
    this.lastResendAt = now;
    for (const u of this.unacked) if (u.seq >= fromSeq) this.send(u.frame);
    this.lastAckProgress = now;
  }

  /** Sends our receive position now (after a reconnect, so the peer learns where to resume). */
  announce(): void {
    this.send(ackFrame(this.expectSeq - 1, this.receivedBytes - this.readableLength));
  }

  private maybeAck(force: boolean): void {
    const consumed = this.receivedBytes - this.readableLength;
    if (force || consumed - this.ackedConsumed >= this.ackThreshold) {
      if (this.ackTimer) {
        clearTimeout(this.ackTimer);
        this.ackTimer = null;
      }
      this.ackedConsumed = consumed;
      this.send(ackFrame(this.expectSeq - 1, consumed));
    } else if (consumed > this.ackedConsumed && !this.ackTimer && !this.destroyed) {
      // below the threshold, acknowledge soon anyway: reliable senders keep copies until then, and
      // every sender's bytes count against its process-wide in-flight pool
      this.ackTimer = setTimeout(() => {
        this.ackTimer = null;
        this.maybeAck(true);
      }, 20);
    }
  }

  private fail(err: Error): void {
    this.destroy(err);
  }
}
