import type { Logger } from 'pino';
import { Rcode, RRClass, RRType } from './wire/constants.ts';
import type { ReadMessage } from './wire/message-reader.ts';
import { isAtOrBelow } from './wire/name.ts';
import { decodeTxt } from './wire/rdata.ts';
import type { TsigKey, TsigVerdict } from './wire/tsig.ts';
import type { Reply, Responder, Transport } from './responder.ts';
import type { ZoneStore } from './zone-store.ts';

export const ACME_PREFIX = '_acme-challenge.';
/** TXT records at one name, and names one key may hold: bounds on what a key holder can store. */
export const MAX_TXT_PER_NAME = 16;
export const MAX_TXT_NAMES_PER_KEY = 64;

/** A TSIG key and what it may change: `_acme-challenge.` names of the hosts it owns. */
export interface KeyPolicy {
  key: TsigKey;
  /** Host names (exact or `*.` wildcards) the key owns outright. */
  names: readonly string[];
  /** The key also owns every host name routed to this agent (and its dyn-zone name). */
  agentId?: string;
}

/** A TXT set to store (or remove, with no records). */
export interface TxtChange {
  name: string;
  rdata: Uint8Array[];
  keyName: string;
}

export interface UpdateDeps {
  store: ZoneStore;
  policies: ReadonlyMap<string, KeyPolicy>;
  /** Persists the changes (JetStream) and resolves once this server answers with them. */
  commit(changes: TxtChange[]): Promise<void>;
  logger: Logger;
}

/** Does owning `owned` let its holder prove control of `host` (the name under `_acme-challenge.`)? */
export function ownsForAcme(owned: string, host: string): boolean {
  if (owned === host) return true;
  if (!owned.startsWith('*.')) return false;
  // a wildcard certificate for *.x is proven at _acme-challenge.x
  const base = owned.slice(2);
  return host === base || (host.endsWith(owned.slice(1)) && host.length > owned.length - 1);
}

class UpdateRefused extends Error {
  constructor(
    readonly rcode: number,
    reason: string,
  ) {
    super(reason);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/**
 * RFC 2136 UPDATE restricted to what ACME DNS-01 needs: adding and removing TXT records at
 * `_acme-challenge.<name>` for names the signing key owns. Unsigned updates are REFUSED, bad
 * signatures NOTAUTH (RFC 8945), anything else a key may not do REFUSED, and in every refused
 * case nothing changes: the whole update is checked before any of it is stored.
 */
export function createUpdateHandler(deps: UpdateDeps, responder: () => Responder) {
  let queue: Promise<unknown> = Promise.resolve();

  const check = (query: Uint8Array, msg: ReadMessage, policy: KeyPolicy): TxtChange[] => {
    const { store } = deps;
    const q = msg.question;
    if (msg.header.qdcount !== 1 || !q || q.qtype !== RRType.SOA || q.qclass !== RRClass.IN) throw new UpdateRefused(Rcode.FORMERR, 'zone section must be one SOA question of class IN');
    const zone = store.zoneOf(q.key);
    if (!zone || zone.apex.key !== q.key) throw new UpdateRefused(Rcode.NOTAUTH, `not authoritative for zone "${q.key}"`);
    if (msg.prerequisites.length > 0) throw new UpdateRefused(Rcode.REFUSED, 'prerequisites are not supported');
    const owned = [...policy.names, ...(policy.agentId ? store.hostnamesOf(policy.agentId) : [])];
    const keyName = policy.key.name.key;
    const work = new Map<string, Uint8Array[]>();
    const current = (name: string): Uint8Array[] => {
      let list = work.get(name);
      if (!list) work.set(name, (list = [...store.txtAt(name)]));
      return list;
    };
    for (const rr of msg.updates) {
      if (!isAtOrBelow(rr.key, zone.apex.key)) throw new UpdateRefused(Rcode.NOTZONE, `"${rr.key}" is outside zone "${zone.apex.key}"`);
      const host = rr.key.startsWith(ACME_PREFIX) ? rr.key.slice(ACME_PREFIX.length) : null;
      if (host === null || !owned.some((o) => ownsForAcme(o, host))) {
        throw new UpdateRefused(Rcode.REFUSED, `key "${keyName}" may not change "${rr.key}" (only _acme-challenge. names of hosts it owns)`);
      }
      const rdata = query.subarray(rr.rdataStart, rr.rdataStart + rr.rdataLength);
      if (rr.rclass === RRClass.IN) {
        if (rr.type !== RRType.TXT) throw new UpdateRefused(Rcode.REFUSED, `only TXT records may be added (got type ${rr.type})`);
        if (!decodeTxt(rdata)) throw new UpdateRefused(Rcode.FORMERR, 'TXT data is not a sequence of character-strings');
        const list = current(rr.key);
        if (!list.some((x) => sameBytes(x, rdata))) list.push(new Uint8Array(rdata));
        if (list.length > MAX_TXT_PER_NAME) throw new UpdateRefused(Rcode.REFUSED, `more than ${MAX_TXT_PER_NAME} TXT records at "${rr.key}"`);
      } else if (rr.rclass === RRClass.ANY) {
        if (rr.ttl !== 0 || rr.rdataLength !== 0) throw new UpdateRefused(Rcode.FORMERR, 'a delete of an RRset must have TTL 0 and no data');
        if (rr.type === RRType.TXT || rr.type === RRType.ANY) current(rr.key).length = 0;
      } else if (rr.rclass === RRClass.NONE) {
        if (rr.ttl !== 0) throw new UpdateRefused(Rcode.FORMERR, 'a delete of a record must have TTL 0');
        if (rr.type === RRType.TXT) {
          const list = current(rr.key);
          const i = list.findIndex((x) => sameBytes(x, rdata));
          if (i >= 0) list.splice(i, 1);
        }
      } else throw new UpdateRefused(Rcode.FORMERR, `class ${rr.rclass} is not valid in an update`);
    }
    const changes: TxtChange[] = [];
    let added = 0;
    for (const [name, rdata] of work) {
      const before = store.txtAt(name);
      if (before.length === rdata.length && before.every((b, i) => sameBytes(b, rdata[i]!))) continue;
      if (before.length === 0 && rdata.length > 0) added++;
      changes.push({ name, rdata, keyName });
    }
    if (added > 0 && store.txtNamesOf(keyName) + added > MAX_TXT_NAMES_PER_KEY) {
      throw new UpdateRefused(Rcode.REFUSED, `key "${keyName}" would hold more than ${MAX_TXT_NAMES_PER_KEY} TXT names`);
    }
    return changes;
  };

  const run = async (query: Uint8Array, msg: ReadMessage, verdict: TsigVerdict | undefined, transport: Transport): Promise<Reply> => {
    const r = responder();
    if (!verdict) {
      deps.logger.warn({ zone: msg.question?.key }, 'unsigned update refused');
      return r.simple(query, msg, Rcode.REFUSED, transport);
    }
    if (!verdict.ok) {
      deps.logger.warn({ key: verdict.request.keyKey, tsigError: verdict.error }, 'update with a bad TSIG signature');
      return r.simple(query, msg, Rcode.NOTAUTH, transport, verdict);
    }
    const policy = deps.policies.get(verdict.key.name.key);
    if (!policy) return r.simple(query, msg, Rcode.NOTAUTH, transport, verdict);
    let changes: TxtChange[];
    try {
      changes = check(query, msg, policy);
    } catch (err) {
      if (!(err instanceof UpdateRefused)) throw err;
      deps.logger.warn({ key: policy.key.name.key, rcode: err.rcode, reason: err.message }, 'update refused');
      return r.simple(query, msg, err.rcode, transport, verdict);
    }
    if (changes.length > 0) {
      try {
        await deps.commit(changes);
      } catch (err) {
        deps.logger.error({ err, key: policy.key.name.key }, 'update could not be stored');
        return r.simple(query, msg, Rcode.SERVFAIL, transport, verdict);
      }
    }
    deps.logger.info({ key: policy.key.name.key, names: changes.map((c) => c.name), records: changes.map((c) => c.rdata.length) }, 'update applied');
    return r.simple(query, msg, Rcode.NOERROR, transport, verdict);
  };

  /** Updates run one at a time: each checks against the state the previous one left. */
  return (query: Uint8Array, msg: ReadMessage, verdict: TsigVerdict | undefined, transport: Transport): Promise<Reply> => {
    const copy = new Uint8Array(query);
    const next = queue.then(() => run(copy, msg, verdict, transport));
    queue = next.catch(() => undefined);
    return next;
  };
}
