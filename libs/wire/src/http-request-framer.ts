// Splits a client->server HTTP/1.x byte stream into request heads and body bytes, so the edge can
// check each request's Host before forwarding it, without rebuilding any request. Hand-written
// because Node exposes no public streaming request framer: its llhttp is reachable only through
// http.Server, which takes the socket over and hands out parsed requests rather than byte
// boundaries, or through the internal, unstable `_http_common` HTTPParser; http-parser-js reports
// parsed fields, not byte offsets, and is lenient where a router must be strict. Byte conservation
// is the contract: the `raw` of heads and the `data` of bodies, in order, are exactly the bytes
// pushed, minus a held partial head.

import { describeByte, quote } from './error-text.ts';
import * as chars from './http-char-classes.ts';
import {
  HeadTooLargeError,
  HttpFramingError,
  MalformedRequestError,
} from './http-framing-errors.ts';
import {
  buildRequestHead,
  parseFieldLine,
  parseRequestLine,
  type RequestHead,
  type RequestLine,
} from './http-request-head.ts';

// Module-local copies: transpilers (tsx/esbuild, vitest) turn imported bindings into getter calls,
// which cost about a third of the time in the per-byte loops.
const { COLON, CR, FIELD_VALUE_CHAR, HEX_VALUE, HTAB, LF, SEMICOLON, SP, TCHAR } = chars;

export type FramerOutput =
  | { kind: 'head'; head: RequestHead; raw: Buffer }
  | { kind: 'body'; data: Buffer };

export interface HttpRequestFramerOptions {
  /** Largest request head (request line, fields, final CRLF) and largest trailer section. Default 16384. */
  maxHeadBytes?: number;
  /** Largest chunk-size line (size and extensions, without CRLF). Default 4096. */
  maxChunkLineBytes?: number;
}

export const DEFAULT_MAX_HEAD_BYTES = 16384;
export const DEFAULT_MAX_CHUNK_LINE_BYTES = 4096;

const MAX_CHUNK_SIZE_DIGITS = 16;

// States. The trailer states are contiguous so one range test counts trailer bytes.
const HEAD = 0;
const LENGTH_BODY = 1;
const PASSTHROUGH = 2;
const CHUNK_SIZE = 3;
const CHUNK_EXT = 4;
const CHUNK_SIZE_LF = 5;
const CHUNK_DATA = 6;
const CHUNK_DATA_CR = 7;
const CHUNK_DATA_LF = 8;
const TRAILER_LINE_START = 9;
const TRAILER_NAME = 10;
const TRAILER_VALUE = 11;
const TRAILER_LF = 12;
const FINAL_LF = 13;

export class HttpRequestFramer {
  readonly #maxHeadBytes: number;
  readonly #maxChunkLineBytes: number;
  #state = HEAD;
  #failure: HttpFramingError | null = null;

  // Head in progress. Offsets are relative to the head's first byte.
  #held: Buffer | null = null;
  #heldLength = 0;
  #lineStart = 0;
  #scanFrom = 0;
  #lines = 0;
  #requestLine: RequestLine | null = null;
  #headers: Array<[string, string]> = [];

  // Body in progress.
  #remaining = 0;
  #chunkSize = 0;
  #chunkDigits = 0;
  #chunkLineBytes = 0;
  #trailerBytes = 0;
  readonly #chunkSizeText = new Uint8Array(MAX_CHUNK_SIZE_DIGITS);

  constructor(opts?: HttpRequestFramerOptions) {
    this.#maxHeadBytes = positiveInteger('maxHeadBytes', opts?.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES);
    this.#maxChunkLineBytes = positiveInteger(
      'maxChunkLineBytes',
      opts?.maxChunkLineBytes ?? DEFAULT_MAX_CHUNK_LINE_BYTES,
    );
  }

  /** True after an Upgrade or CONNECT head: every later byte comes out as 'body'. */
  get passthrough(): boolean {
    return this.#state === PASSTHROUGH;
  }

  /** True between requests and inside a head (where bytes are held until the head is complete). */
  get inHead(): boolean {
    return this.#state === HEAD;
  }

  /** Bytes of a partial head held back; never more than maxHeadBytes. */
  get heldBytes(): number {
    return this.#heldLength;
  }

  /**
   * Frames `chunk`, the next bytes of the stream. Outputs may be subarrays of `chunk` (zero-copy):
   * do not reuse its memory while they are in use. After a throw the stream is unusable and every
   * later call rethrows the same error.
   */
  push(chunk: Buffer): FramerOutput[] {
    if (this.#failure !== null) throw this.#failure;
    const out: FramerOutput[] = [];
    try {
      const n = chunk.length;
      let pos = 0;
      while (pos < n) {
        const state = this.#state;
        if (state === HEAD) {
          pos = this.#readHead(chunk, pos, out);
        } else if (state === LENGTH_BODY) {
          const take = Math.min(this.#remaining, n - pos);
          out.push({ kind: 'body', data: chunk.subarray(pos, pos + take) });
          pos += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = HEAD;
        } else if (state === PASSTHROUGH) {
          out.push({ kind: 'body', data: pos === 0 ? chunk : chunk.subarray(pos) });
          pos = n;
        } else {
          pos = this.#readChunked(chunk, pos, out);
        }
      }
    } catch (err) {
      if (err instanceof HttpFramingError) this.#failure = err;
      throw err;
    }
    return out;
  }

  #readHead(chunk: Buffer, pos: number, out: FramerOutput[]): number {
    if (this.#heldLength === 0) {
      // Common case: the whole head is in this chunk, and raw is a view of it.
      const end = this.#scanHead(chunk, pos);
      if (end >= 0) {
        this.#emitHead(chunk.subarray(pos, pos + end), out);
        return pos + end;
      }
      this.#hold(chunk, pos, chunk.length);
      return chunk.length;
    }
    // Continue a held head. Copy no more than could still belong to it.
    const before = this.#heldLength;
    const take = Math.min(this.#maxHeadBytes - before, chunk.length - pos);
    this.#hold(chunk, pos, pos + take);
    const held = this.#held!.subarray(0, this.#heldLength);
    const end = this.#scanHead(held, 0);
    if (end >= 0) {
      this.#held = null;
      this.#heldLength = 0;
      this.#emitHead(held.subarray(0, end), out);
      return pos + (end - before);
    }
    if (take < chunk.length - pos) throw this.#headTooLarge();
    return pos + take;
  }

  /**
   * Scans the head that starts at buf[base] for complete lines from where the last scan stopped,
   * parsing each. Returns the head's length once its empty line is found, else -1.
   */
  #scanHead(buf: Buffer, base: number): number {
    const limit = base + this.#maxHeadBytes;
    let lineStart = base + this.#lineStart;
    let i = base + this.#scanFrom;
    for (;;) {
      if (this.#lines === 0 && lineStart < buf.length && lineStart < limit) {
        // Refuse at once what cannot start a request line (a TLS hello, binary junk), instead of
        // holding it until the size cap.
        const b = buf[lineStart]!;
        if (b !== CR && TCHAR[b] !== 1) {
          throw new MalformedRequestError(`invalid request line: starts with ${describeByte(b)}`);
        }
      }
      const lf = buf.indexOf(LF, i);
      if (lf < 0) break;
      if (lf >= limit) throw this.#headTooLarge();
      if (lf === lineStart || buf[lf - 1] !== CR) {
        throw new MalformedRequestError(
          `bare LF in ${this.#lines === 0 ? 'request line' : `header line ${this.#lines}`}`,
        );
      }
      const contentEnd = lf - 1;
      if (contentEnd === lineStart) {
        if (this.#lines > 0) {
          this.#lineStart = 0;
          this.#scanFrom = 0;
          return lf + 1 - base;
        }
        // RFC 9112 2.2: empty lines before the request line are ignored (they stay in raw).
      } else if (this.#lines === 0) {
        this.#requestLine = parseRequestLine(buf, lineStart, contentEnd);
        this.#lines = 1;
      } else {
        const previous = this.#headers[this.#headers.length - 1]?.[0];
        this.#headers.push(parseFieldLine(buf, lineStart, contentEnd, this.#lines, previous));
        this.#lines++;
      }
      lineStart = lf + 1;
      i = lineStart;
    }
    if (buf.length > limit) throw this.#headTooLarge();
    this.#lineStart = lineStart - base;
    this.#scanFrom = buf.length - base;
    return -1;
  }

  #emitHead(raw: Buffer, out: FramerOutput[]): void {
    const head = buildRequestHead(this.#requestLine!, this.#headers);
    this.#requestLine = null;
    this.#headers = [];
    this.#lines = 0;
    out.push({ kind: 'head', head, raw });
    if (head.upgrade) {
      this.#state = PASSTHROUGH;
    } else if (head.bodyKind === 'chunked') {
      this.#startChunkSize();
    } else if (head.contentLength > 0) {
      this.#state = LENGTH_BODY;
      this.#remaining = head.contentLength;
    }
  }

  #hold(src: Buffer, start: number, end: number): void {
    const need = this.#heldLength + (end - start);
    let held = this.#held;
    if (held === null || held.length < need) {
      const capacity = Math.min(this.#maxHeadBytes, Math.max(need, held === null ? 1024 : held.length * 2));
      const grown = Buffer.allocUnsafe(capacity);
      if (held !== null) held.copy(grown, 0, 0, this.#heldLength);
      held = grown;
      this.#held = held;
    }
    src.copy(held, this.#heldLength, start, end);
    this.#heldLength = need;
  }

  #headTooLarge(): HeadTooLargeError {
    return new HeadTooLargeError(`request head exceeds ${this.#maxHeadBytes} bytes`);
  }

  #startChunkSize(): void {
    this.#state = CHUNK_SIZE;
    this.#chunkSize = 0;
    this.#chunkDigits = 0;
    this.#chunkLineBytes = 0;
  }

  /** Walks chunked framing from chunk[pos]; emits one 'body' for the bytes it consumed. */
  #readChunked(chunk: Buffer, pos: number, out: FramerOutput[]): number {
    const n = chunk.length;
    let i = pos;
    let state = this.#state;
    while (i < n) {
      if (state === CHUNK_DATA) {
        const take = Math.min(this.#remaining, n - i);
        i += take;
        this.#remaining -= take;
        if (this.#remaining === 0) state = CHUNK_DATA_CR;
        continue;
      }
      const b = chunk[i]!;
      if (state >= TRAILER_LINE_START && ++this.#trailerBytes > this.#maxHeadBytes) {
        throw new HeadTooLargeError(`trailer section exceeds ${this.#maxHeadBytes} bytes`);
      }
      switch (state) {
        case CHUNK_SIZE: {
          const digit = HEX_VALUE[b]!;
          if (digit !== 0xff) {
            this.#addChunkSizeDigit(b, digit);
          } else if (b === CR && this.#chunkDigits > 0) {
            state = CHUNK_SIZE_LF;
          } else if (b === SEMICOLON && this.#chunkDigits > 0) {
            this.#countChunkLineByte();
            state = CHUNK_EXT;
          } else {
            throw this.#badChunkSize(chunk, i, b);
          }
          break;
        }
        case CHUNK_EXT:
          if (b === CR) {
            state = CHUNK_SIZE_LF;
          } else if (FIELD_VALUE_CHAR[b] === 1) {
            this.#countChunkLineByte();
          } else {
            throw new MalformedRequestError(
              b === LF ? 'bare LF in chunk-size line' : `invalid character ${describeByte(b)} in chunk extension`,
            );
          }
          break;
        case CHUNK_SIZE_LF:
          if (b !== LF) throw new MalformedRequestError('bare CR in chunk-size line');
          if (this.#chunkSize === 0) {
            state = TRAILER_LINE_START;
            this.#trailerBytes = 0;
          } else {
            state = CHUNK_DATA;
            this.#remaining = this.#chunkSize;
          }
          break;
        case CHUNK_DATA_CR:
          if (b !== CR) throw this.#badChunkEnd('CR', b);
          state = CHUNK_DATA_LF;
          break;
        case CHUNK_DATA_LF:
          if (b !== LF) throw this.#badChunkEnd('LF', b);
          this.#startChunkSize();
          state = CHUNK_SIZE;
          break;
        case TRAILER_LINE_START:
          if (b === CR) state = FINAL_LF;
          else if (TCHAR[b] === 1) state = TRAILER_NAME;
          else if (b === SP || b === HTAB) {
            throw new MalformedRequestError('obs-fold (line folding) in trailer section is not allowed');
          } else if (b === LF) throw new MalformedRequestError('bare LF in trailer section');
          else throw new MalformedRequestError(`invalid trailer name: starts with ${describeByte(b)}`);
          break;
        case TRAILER_NAME:
          if (b === COLON) state = TRAILER_VALUE;
          else if (TCHAR[b] !== 1) {
            throw new MalformedRequestError(
              b === SP || b === HTAB
                ? 'whitespace between trailer name and colon is not allowed'
                : b === CR || b === LF
                  ? 'trailer line has no colon'
                  : `invalid trailer name: contains ${describeByte(b)}`,
            );
          }
          break;
        case TRAILER_VALUE:
          if (b === CR) state = TRAILER_LF;
          else if (FIELD_VALUE_CHAR[b] !== 1) {
            throw new MalformedRequestError(
              b === LF ? 'bare LF in trailer section' : `invalid character ${describeByte(b)} in trailer value`,
            );
          }
          break;
        case TRAILER_LF:
          if (b !== LF) throw new MalformedRequestError('bare CR in trailer section');
          state = TRAILER_LINE_START;
          break;
        case FINAL_LF:
          if (b !== LF) throw new MalformedRequestError('bare CR in trailer section');
          i++;
          out.push({ kind: 'body', data: chunk.subarray(pos, i) });
          this.#state = HEAD;
          return i;
      }
      i++;
    }
    this.#state = state;
    if (i > pos) out.push({ kind: 'body', data: chunk.subarray(pos, i) });
    return i;
  }

  #addChunkSizeDigit(byte: number, digit: number): void {
    if (this.#chunkDigits === MAX_CHUNK_SIZE_DIGITS) {
      throw new MalformedRequestError(`chunk size has more than ${MAX_CHUNK_SIZE_DIGITS} hex digits`);
    }
    this.#chunkSizeText[this.#chunkDigits++] = byte;
    if (this.#chunkSize > (Number.MAX_SAFE_INTEGER - digit) / 16) {
      throw new MalformedRequestError(
        `chunk size ${quote(this.#chunkSizeDigits())} is larger than ${Number.MAX_SAFE_INTEGER}`,
      );
    }
    this.#chunkSize = this.#chunkSize * 16 + digit;
    this.#countChunkLineByte();
  }

  #countChunkLineByte(): void {
    if (++this.#chunkLineBytes > this.#maxChunkLineBytes) {
      throw new MalformedRequestError(`chunk-size line exceeds ${this.#maxChunkLineBytes} bytes`);
    }
  }

  #chunkSizeDigits(): string {
    return Buffer.from(this.#chunkSizeText.buffer, 0, this.#chunkDigits).toString('latin1');
  }

  #badChunkSize(chunk: Buffer, at: number, b: number): MalformedRequestError {
    if (b === LF) return new MalformedRequestError('bare LF in chunk-size line');
    if (this.#chunkDigits > 0) {
      return new MalformedRequestError(
        `invalid character ${describeByte(b)} after chunk size ${quote(this.#chunkSizeDigits())}`,
      );
    }
    let end = at;
    while (end < chunk.length && end - at < 32) {
      const c = chunk[end]!;
      if (c === CR || c === LF || c === SEMICOLON || c === SP || c === HTAB) break;
      end++;
    }
    return new MalformedRequestError(`invalid chunk size ${quote(chunk.toString('latin1', at, end))}`);
  }

  #badChunkEnd(expected: 'CR' | 'LF', b: number): MalformedRequestError {
    return new MalformedRequestError(
      `chunk data not followed by CRLF: expected ${expected} after ${this.#chunkSize}-byte chunk, got ${describeByte(b)}`,
    );
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}
