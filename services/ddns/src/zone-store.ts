import { RRType } from './wire/constants.ts';
import { isAtOrBelow, nameKey, parentKey, wireName, type ReadName, type WireName } from './wire/name.ts';
import type { SoaFields } from './wire/message-writer.ts';
import { encodeA, encodeAaaa, RFC8482_HINFO, withLength } from './wire/rdata.ts';

/** At most this many records in one answer: a bound on response size whatever the events say. */
export const MAX_RRSET = 256;

export interface ZoneSettings {
  tunnelZone: string;
  dynZone: string;
  ttl: number;
  hostmaster: string;
  nameservers: ReadonlyArray<{ name: string; ipv4: readonly string[]; ipv6: readonly string[] }>;
  /** Addresses every tunnel-zone name answers besides those edges announce (a load balancer). */
  staticEdges: { ipv4: readonly string[]; ipv6: readonly string[] };
  soaTimers: { refresh: number; retry: number; expire: number };
}

export type ZoneKind = 'tunnel' | 'dyn';

export interface Zone {
  readonly kind: ZoneKind;
  readonly apex: WireName;
  readonly soa: SoaFields;
  readonly ns: readonly WireName[];
}

/** The data of one RRset whose owner is the question's name. */
export type RRset =
  | { type: typeof RRType.A | typeof RRType.AAAA | typeof RRType.TXT | typeof RRType.HINFO; rdata: readonly Uint8Array[] }
  | { type: typeof RRType.NS; targets: readonly WireName[] }
  | { type: typeof RRType.SOA };

export interface GlueRecord {
  owner: WireName;
  type: typeof RRType.A | typeof RRType.AAAA;
  rdata: Uint8Array;
}

export type Resolution =
  | { kind: 'refused' }
  | { kind: 'answer'; zone: Zone; rrsets: RRset[]; glue: GlueRecord[] }
  | { kind: 'nodata'; zone: Zone }
  | { kind: 'nxdomain'; zone: Zone };

interface HostRecords {
  owner: WireName;
  a: Uint8Array[];
  aaaa: Uint8Array[];
}

interface TxtSet {
  /** RDATA as stored in events and compared by updates. */
  raw: Uint8Array[];
  /** The same with RDLENGTH in front, as responses carry it. */
  wire: Uint8Array[];
  keyName: string;
}

function dedupeCapped(values: Iterable<string>): string[] {
  return [...new Set(values)].slice(0, MAX_RRSET);
}

/**
 * Every record ddns serves, kept from events, and the lookup rules:
 * - tunnel zone: every name under it answers A/AAAA with the edges' addresses (a zone-wide
 *   wildcard that names made for ACME challenges do not shadow), TXT from ACME records;
 * - dynamic-DNS zone: a route `H` (under the tunnel zone) of agent X makes `H` with the dyn zone
 *   in place of the tunnel zone answer X's reported address; `*.` routes are wildcards (RFC 4592:
 *   they do not cover names that exist); names above those are empty non-terminals (NOERROR,
 *   no data); any other name is NXDOMAIN;
 * - both: SOA and NS at the apex, A/AAAA for the name servers' own names when configured.
 */
export class ZoneStore {
  readonly tunnel: Zone;
  readonly dyn: Zone;
  readonly ttl: number;
  private readonly settings: ZoneSettings;
  private serial: number;
  private readonly hosts = new Map<string, HostRecords>();
  private readonly edges = new Map<string, { ipv4: string[]; ipv6: string[]; ts: number }>();
  private edgeA: Uint8Array[] = [];
  private edgeAaaa: Uint8Array[] = [];
  private readonly agentAddr = new Map<string, { a?: Uint8Array; aaaa?: Uint8Array }>();
  private readonly routes = new Map<string, { hostname: string; agentId: string; dynKey: string | null }>();
  private readonly dynNames = new Map<string, Set<string>>();
  private readonly dynNodes = new Map<string, number>();
  private readonly txt = new Map<string, TxtSet>();

  constructor(settings: ZoneSettings, nowSeconds: number) {
    this.settings = settings;
    this.ttl = settings.ttl;
    this.serial = nowSeconds >>> 0;
    const ns = settings.nameservers.map((n) => wireName(n.name));
    const zone = (kind: ZoneKind, apex: string): Zone => {
      const apexName = wireName(apex);
      const zoneSoa: SoaFields = {
        mname: ns[0]!,
        rname: wireName(settings.hostmaster),
        serial: this.serial,
        ...settings.soaTimers,
        minimum: settings.ttl,
      };
      return { kind, apex: apexName, soa: zoneSoa, ns };
    };
    this.tunnel = zone('tunnel', settings.tunnelZone);
    this.dyn = zone('dyn', settings.dynZone);
    for (const n of settings.nameservers) {
      const owner = wireName(n.name);
      if (n.ipv4.length + n.ipv6.length === 0) continue;
      this.hosts.set(owner.key, { owner, a: n.ipv4.map(encodeA), aaaa: n.ipv6.map(encodeAaaa) });
    }
    this.rebuildEdges();
  }

  get currentSerial(): number {
    return this.serial;
  }

  private changed(): void {
    this.serial = Math.max((this.serial + 1) >>> 0, Math.floor(Date.now() / 1000) >>> 0);
    this.tunnel.soa.serial = this.serial;
    this.dyn.soa.serial = this.serial;
  }

  /** The zone a name key falls in (the longest apex that is a suffix), if any. */
  zoneOf(key: string): Zone | undefined {
    const inDyn = isAtOrBelow(key, this.dyn.apex.key);
    const inTunnel = isAtOrBelow(key, this.tunnel.apex.key);
    if (inDyn && inTunnel) return this.dyn.apex.key.length >= this.tunnel.apex.key.length ? this.dyn : this.tunnel;
    return inDyn ? this.dyn : inTunnel ? this.tunnel : undefined;
  }

  // ---- what events change -------------------------------------------------------------------

  setEdge(edgeId: string, ipv4: readonly string[], ipv6: readonly string[], ts = Date.now()): void {
    if (ipv4.length + ipv6.length === 0) this.edges.delete(edgeId);
    else this.edges.set(edgeId, { ipv4: [...ipv4], ipv6: [...ipv6], ts });
    this.rebuildEdges();
    this.changed();
  }

  /** Forgets edges whose last report is older than `before` (they crashed or lost NATS); returns their ids. */
  expireEdges(before: number): string[] {
    const gone = [...this.edges].filter(([, e]) => e.ts < before).map(([id]) => id);
    if (gone.length === 0) return gone;
    for (const id of gone) this.edges.delete(id);
    this.rebuildEdges();
    this.changed();
    return gone;
  }

  private rebuildEdges(): void {
    const v4 = [...this.settings.staticEdges.ipv4];
    const v6 = [...this.settings.staticEdges.ipv6];
    for (const e of this.edges.values()) {
      v4.push(...e.ipv4);
      v6.push(...e.ipv6);
    }
    this.edgeA = dedupeCapped(v4).map(encodeA);
    this.edgeAaaa = dedupeCapped(v6).map(encodeAaaa);
  }

  setAgentAddress(agentId: string, ipv4: string | undefined, ipv6: string | undefined): void {
    if (ipv4 === undefined && ipv6 === undefined) this.agentAddr.delete(agentId);
    else this.agentAddr.set(agentId, { ...(ipv4 ? { a: encodeA(ipv4) } : {}), ...(ipv6 ? { aaaa: encodeAaaa(ipv6) } : {}) });
    this.changed();
  }

  /** The dyn-zone name a route's hostname maps to, or null if it is not under the tunnel zone. */
  dynNameFor(hostname: string): string | null {
    const t = this.tunnel.apex.key;
    const d = this.dyn.apex.key;
    if (isAtOrBelow(hostname, d) || !isAtOrBelow(hostname, t) || hostname === t) return null;
    return `${hostname.slice(0, hostname.length - t.length - 1)}.${d}`;
  }

  putRoute(routeKey: string, hostname: string, agentId: string): void {
    this.deleteRoute(routeKey, false);
    const dynKey = this.dynNameFor(hostname);
    this.routes.set(routeKey, { hostname, agentId, dynKey });
    if (dynKey) {
      let set = this.dynNames.get(dynKey);
      if (!set) {
        this.dynNames.set(dynKey, (set = new Set()));
        this.addNode(dynKey, this.dyn.apex.key);
      }
      set.add(agentId);
    }
    this.changed();
  }

  deleteRoute(routeKey: string, bump = true): void {
    const r = this.routes.get(routeKey);
    if (!r) return;
    this.routes.delete(routeKey);
    if (r.dynKey) {
      const set = this.dynNames.get(r.dynKey);
      set?.delete(r.agentId);
      if (set && set.size === 0) {
        this.dynNames.delete(r.dynKey);
        this.removeNode(r.dynKey, this.dyn.apex.key);
      }
    }
    if (bump) this.changed();
  }

  /** Host names routed to `agentId` (what a TSIG key bound to that agent may prove control of). */
  hostnamesOf(agentId: string): string[] {
    const out: string[] = [];
    for (const r of this.routes.values()) if (r.agentId === agentId) out.push(r.hostname, ...(r.dynKey ? [r.dynKey] : []));
    return out;
  }

  /** Sets (or with no records, removes) the TXT records at an `_acme-challenge.` name. */
  setTxt(name: string, rdata: readonly Uint8Array[], keyName: string): void {
    const zone = this.zoneOf(name);
    if (!zone) return;
    const had = this.txt.has(name);
    if (rdata.length === 0) {
      if (had) {
        this.txt.delete(name);
        if (zone === this.dyn) this.removeNode(name, this.dyn.apex.key);
      }
    } else {
      const raw = rdata.slice(0, MAX_RRSET);
      this.txt.set(name, { raw, wire: raw.map(withLength), keyName });
      if (!had && zone === this.dyn) this.addNode(name, this.dyn.apex.key);
    }
    this.changed();
  }

  /** The TXT RDATA at a name (without RDLENGTH). */
  txtAt(name: string): readonly Uint8Array[] {
    return this.txt.get(name)?.raw ?? [];
  }

  private txtWire(name: string): readonly Uint8Array[] {
    return this.txt.get(name)?.wire ?? [];
  }

  /** How many TXT names a key has set (a quota). */
  txtNamesOf(keyName: string): number {
    let n = 0;
    for (const t of this.txt.values()) if (t.keyName === keyName) n++;
    return n;
  }

  private addNode(key: string, apex: string): void {
    for (let k: string | null = key; k !== null && k !== apex; k = parentKey(k)) this.dynNodes.set(k, (this.dynNodes.get(k) ?? 0) + 1);
  }

  private removeNode(key: string, apex: string): void {
    for (let k: string | null = key; k !== null && k !== apex; k = parentKey(k)) {
      const n = (this.dynNodes.get(k) ?? 0) - 1;
      if (n <= 0) this.dynNodes.delete(k);
      else this.dynNodes.set(k, n);
    }
  }

  // ---- lookups ------------------------------------------------------------------------------

  /**
   * What to answer for a question. `key` is the question's name key; `buf`/`name` give the keys of
   * its ancestors (for the closest encloser: keys of query names may hold escaped dots).
   */
  resolve(key: string, buf: Uint8Array, name: ReadName, qtype: number): Resolution {
    const zone = this.zoneOf(key);
    if (!zone) return { kind: 'refused' };
    if (key === zone.apex.key) return this.apex(zone, qtype);
    const host = this.hosts.get(key);
    if (host) return this.hostAnswer(zone, host, qtype);
    if (zone === this.tunnel) return this.tunnelName(zone, key, qtype);
    if (this.dynNodes.has(key)) return this.dynAnswer(zone, this.dynNames.get(key), key, qtype);
    // closest encloser, then its wildcard (RFC 4592 §3.3.1)
    const labels = name.labelStarts.length;
    for (let i = 1; i < labels; i++) {
      const ancestor = nameKey(buf, name, i);
      if (ancestor === zone.apex.key || this.dynNodes.has(ancestor)) {
        const wildcard = this.dynNames.get(`*.${ancestor}`);
        return wildcard ? this.dynAnswer(zone, wildcard, null, qtype) : { kind: 'nxdomain', zone };
      }
    }
    return { kind: 'nxdomain', zone };
  }

  private addresses(zone: Zone, qtype: number, a: readonly Uint8Array[], aaaa: readonly Uint8Array[], txt: readonly Uint8Array[]): Resolution {
    const rrsets: RRset[] = [];
    if (qtype === RRType.A && a.length > 0) rrsets.push({ type: RRType.A, rdata: a });
    else if (qtype === RRType.AAAA && aaaa.length > 0) rrsets.push({ type: RRType.AAAA, rdata: aaaa });
    else if (qtype === RRType.TXT && txt.length > 0) rrsets.push({ type: RRType.TXT, rdata: txt });
    else if (qtype === RRType.ANY) rrsets.push({ type: RRType.HINFO, rdata: [RFC8482_HINFO] });
    return rrsets.length > 0 ? { kind: 'answer', zone, rrsets, glue: [] } : { kind: 'nodata', zone };
  }

  private apex(zone: Zone, qtype: number): Resolution {
    if (qtype === RRType.SOA) return { kind: 'answer', zone, rrsets: [{ type: RRType.SOA }], glue: [] };
    if (qtype === RRType.NS) return { kind: 'answer', zone, rrsets: [{ type: RRType.NS, targets: zone.ns }], glue: this.glueFor(zone.ns) };
    const edges = zone === this.tunnel;
    return this.addresses(zone, qtype, edges ? this.edgeA : [], edges ? this.edgeAaaa : [], this.txtWire(zone.apex.key));
  }

  private glueFor(names: readonly WireName[]): GlueRecord[] {
    const glue: GlueRecord[] = [];
    for (const n of names) {
      const h = this.hosts.get(n.key);
      if (!h) continue;
      for (const rdata of h.a) glue.push({ owner: h.owner, type: RRType.A, rdata });
      for (const rdata of h.aaaa) glue.push({ owner: h.owner, type: RRType.AAAA, rdata });
    }
    return glue;
  }

  private hostAnswer(zone: Zone, host: HostRecords, qtype: number): Resolution {
    return this.addresses(zone, qtype, host.a, host.aaaa, []);
  }

  private tunnelName(zone: Zone, key: string, qtype: number): Resolution {
    return this.addresses(zone, qtype, this.edgeA, this.edgeAaaa, this.txtWire(key));
  }

  private dynAnswer(zone: Zone, agents: ReadonlySet<string> | undefined, key: string | null, qtype: number): Resolution {
    const a: Uint8Array[] = [];
    const aaaa: Uint8Array[] = [];
    if (agents) {
      for (const id of agents) {
        const addr = this.agentAddr.get(id);
        if (addr?.a && a.length < MAX_RRSET) a.push(addr.a);
        if (addr?.aaaa && aaaa.length < MAX_RRSET) aaaa.push(addr.aaaa);
      }
    }
    return this.addresses(zone, qtype, dedupeBytes(a), dedupeBytes(aaaa), key === null ? [] : this.txtWire(key));
  }
}

function dedupeBytes(list: Uint8Array[]): Uint8Array[] {
  if (list.length < 2) return list;
  const seen = new Set<string>();
  return list.filter((b) => {
    const k = Buffer.from(b).toString('hex');
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
