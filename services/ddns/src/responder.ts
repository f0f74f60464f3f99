import { CLASSIC_UDP_LIMIT, Flag, HEADER_BYTES, Opcode, Rcode, RRClass, RRType, TsigError } from './wire/constants.ts';
import { DnsWireError } from './wire/errors.ts';
import { readHeader, readMessage, type ReadMessage } from './wire/message-reader.ts';
import { MessageWriter } from './wire/message-writer.ts';
import { readName, wireNameFrom } from './wire/name.ts';
import { signResponse, verifyTsig, type TsigKey, type TsigVerdict } from './wire/tsig.ts';
import type { Resolution, ZoneStore } from './zone-store.ts';

export type Transport = 'udp' | 'tcp';

/** What answering one message produced; `rcode` and `outcome` are for metrics and logs. */
export interface Reply {
  message: Buffer;
  rcode: number;
}

export interface ResponderOptions {
  /** Largest UDP response we send even when a client advertises more (RFC 9715 suggests 1232). */
  maxUdpPayload: number;
  tsigKeys: ReadonlyMap<string, TsigKey>;
  now: () => number;
  /** A bug met while answering (the client got SERVFAIL): for a log line. */
  onError?: (err: unknown) => void;
}

/** Dropped: not a DNS request at all (shorter than a header, or a response). */
export const DROP = null;

/** An update handler gets the checked message and the verdict on its TSIG record. */
export type UpdateHandler = (query: Uint8Array, msg: ReadMessage, verdict: TsigVerdict | undefined, transport: Transport) => Promise<Reply>;

/**
 * Answers one DNS message (a UDP datagram or one TCP frame). Never throws: malformed input gets
 * FORMERR or nothing. Queries are answered synchronously; UPDATE returns a promise.
 */
export class Responder {
  private readonly writer = new MessageWriter();

  constructor(
    private readonly store: ZoneStore,
    private readonly opts: ResponderOptions,
    private readonly onUpdate: UpdateHandler,
  ) {}

  handle(query: Uint8Array, transport: Transport): Reply | null | Promise<Reply> {
    let msg: ReadMessage;
    try {
      const h = readHeader(query);
      if ((h.flags & Flag.QR) !== 0) return DROP;
      msg = readMessage(query);
    } catch (err) {
      if (!(err instanceof DnsWireError) || err.code === 'SLUICE_DNS_SHORT_HEADER') return DROP;
      return this.formErr(query);
    }
    try {
      return this.dispatch(query, msg, transport);
    } catch (err) {
      // a bug, not bad input: answer SERVFAIL rather than let one packet stop the server
      this.opts.onError?.(err);
      return this.simple(query, msg, Rcode.SERVFAIL, transport);
    }
  }

  private dispatch(query: Uint8Array, msg: ReadMessage, transport: Transport): Reply | Promise<Reply> {
    const { header } = msg;
    if (header.opcode === Opcode.UPDATE) {
      const verdict = msg.tsig ? verifyTsig(query, msg.tsig, this.opts.tsigKeys, this.opts.now()) : undefined;
      return this.onUpdate(query, msg, verdict, transport);
    }
    if (header.opcode !== Opcode.QUERY) return this.simple(query, msg, Rcode.NOTIMP, transport);
    if (header.qdcount !== 1 || !msg.question) return this.simple(query, msg, Rcode.FORMERR, transport);
    if (msg.opt && msg.opt.version > 0) return this.simple(query, msg, Rcode.BADVERS, transport);
    let verdict: TsigVerdict | undefined;
    if (msg.tsig) {
      verdict = verifyTsig(query, msg.tsig, this.opts.tsigKeys, this.opts.now());
      if (!verdict.ok) return this.simple(query, msg, Rcode.NOTAUTH, transport, verdict);
    }
    const q = msg.question;
    if (q.qclass !== RRClass.IN && q.qclass !== RRClass.ANY) return this.simple(query, msg, Rcode.REFUSED, transport, verdict);
    if (q.qtype === RRType.AXFR || q.qtype === RRType.IXFR) return this.simple(query, msg, Rcode.REFUSED, transport, verdict);
    if (q.qtype === RRType.MAILA || q.qtype === RRType.MAILB) return this.simple(query, msg, Rcode.NOTIMP, transport, verdict);
    if (q.qtype === RRType.OPT || q.qtype === RRType.TSIG) return this.simple(query, msg, Rcode.FORMERR, transport, verdict);
    const res = this.store.resolve(q.key, query, q.name, q.qtype);
    return this.answer(query, msg, res, transport, verdict);
  }

  /** The largest response this query may get over this transport. */
  private limit(msg: ReadMessage | undefined, transport: Transport): number {
    if (transport === 'tcp') return 65535;
    if (!msg?.opt) return CLASSIC_UDP_LIMIT;
    return Math.min(msg.opt.udpSize, this.opts.maxUdpPayload);
  }

  private flags(msg: ReadMessage, rcode: number, authoritative: boolean): number {
    const f = msg.header.flags;
    return Flag.QR | (msg.header.opcode << 11) | (authoritative ? Flag.AA : 0) | (f & (Flag.RD | Flag.CD)) | (rcode & 0xf);
  }

  private begin(query: Uint8Array, msg: ReadMessage, rcode: number, authoritative: boolean): MessageWriter {
    const w = this.writer;
    w.reset();
    w.header(msg.header.id, this.flags(msg, rcode, authoritative));
    const q = msg.question;
    if (q && msg.header.qdcount === 1) w.copyQuestion(query, q.start, q.end, q.name);
    return w;
  }

  /** Ends a response: OPT if the query had one, TSIG if it was signed, TC if it does not fit. */
  private end(w: MessageWriter, query: Uint8Array, msg: ReadMessage, rcode: number, transport: Transport, verdict: TsigVerdict | undefined): Reply {
    const limit = this.limit(msg, transport);
    const optBytes = msg.opt ? 11 : 0;
    if (msg.opt) w.opt(this.opts.maxUdpPayload, rcode);
    let tsigBytes: Uint8Array | undefined;
    if (verdict) tsigBytes = this.tsigFor(w.finish(), query, msg, verdict);
    if (w.length + (tsigBytes?.length ?? 0) > limit) {
      // too large for this transport: the question alone, TC set; the client retries over TCP
      const q = msg.question;
      const flags = (w.buf[2]! << 8) | w.buf[3]!;
      w.reset();
      w.header(msg.header.id, flags | Flag.TC);
      if (q && msg.header.qdcount === 1 && HEADER_BYTES + (q.end - q.start) + optBytes <= limit) w.copyQuestion(query, q.start, q.end, q.name);
      if (msg.opt) w.opt(this.opts.maxUdpPayload, rcode);
      if (verdict) tsigBytes = this.tsigFor(w.finish(), query, msg, verdict);
      if (tsigBytes && w.length + tsigBytes.length > limit) tsigBytes = undefined;
    }
    if (tsigBytes) w.rawAdditional(tsigBytes);
    return { message: Buffer.from(w.finish()), rcode };
  }

  private tsigFor(response: Buffer, query: Uint8Array, msg: ReadMessage, verdict: TsigVerdict): Uint8Array {
    const keyName = wireNameFrom(query, msg.tsig!.keyName);
    if (verdict.ok) return signResponse(response, verdict.request, keyName, verdict.key, TsigError.NOERROR, this.opts.now());
    return signResponse(response, verdict.request, keyName, verdict.key, verdict.error, this.opts.now());
  }

  /** A response with no records: errors, refusals. */
  simple(query: Uint8Array, msg: ReadMessage, rcode: number, transport: Transport, verdict?: TsigVerdict): Reply {
    const w = this.begin(query, msg, rcode, false);
    return this.end(w, query, msg, rcode, transport, verdict);
  }

  private answer(query: Uint8Array, msg: ReadMessage, res: Resolution, transport: Transport, verdict: TsigVerdict | undefined): Reply {
    if (res.kind === 'refused') return this.simple(query, msg, Rcode.REFUSED, transport, verdict);
    const rcode = res.kind === 'nxdomain' ? Rcode.NXDOMAIN : Rcode.NOERROR;
    const w = this.begin(query, msg, rcode, true);
    const ttl = this.store.ttl;
    const zone = res.zone;
    if (res.kind === 'answer') {
      for (const set of res.rrsets) {
        if (set.type === RRType.SOA) w.soa(zone.apex, ttl, zone.soa);
        else if (set.type === RRType.NS) for (const t of set.targets) w.nameRecord(null, RRType.NS, ttl, t);
        else for (const rdata of set.rdata) w.record(null, set.type, ttl, rdata);
      }
      if (res.glue.length > 0) {
        w.startSection(3);
        for (const g of res.glue) w.record(g.owner, g.type, ttl, g.rdata);
      }
    } else {
      // negative answers carry the SOA, whose TTL (= its minimum) says how long to cache them
      w.startSection(2);
      w.soa(zone.apex, Math.min(ttl, zone.soa.minimum), zone.soa);
    }
    w.startSection(3);
    return this.end(w, query, msg, rcode, transport, verdict);
  }

  /** FORMERR for a message that could not be read past its header: the header echoed, no question. */
  private formErr(query: Uint8Array): Reply {
    const h = readHeader(query);
    const w = this.writer;
    w.reset();
    w.header(h.id, Flag.QR | (h.opcode << 11) | (h.flags & Flag.RD) | Rcode.FORMERR);
    return { message: Buffer.from(w.finish()), rcode: Rcode.FORMERR };
  }
}

/** The same response cut to its question with TC set (a rate-limited client's "slip" answer). */
export function truncatedCopy(response: Buffer): Buffer {
  const h = readHeader(response);
  const end = h.qdcount === 1 ? readName(response, HEADER_BYTES).end + 4 : HEADER_BYTES;
  const out = Buffer.from(response.subarray(0, end));
  out[2] = out[2]! | (Flag.TC >> 8);
  out.writeUInt16BE(h.qdcount === 1 ? 1 : 0, 4);
  out.fill(0, 6, HEADER_BYTES);
  return out;
}
