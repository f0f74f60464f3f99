import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import dnsPacket from 'dns-packet';
import { signRequest, wireName } from '@sluice/ddns';
import { readMessage } from '../../services/ddns/src/wire/message-reader.ts';
import { startDdnsFixture, DYN_ZONE, TUNNEL_ZONE, type DdnsFixture } from './support/ddns-fixture.ts';
import { dig, rcodeOf, udpExchange } from './support/dns-client.ts';
import { eventually, putRoute } from './support/events.ts';

const SECRET = Buffer.from('cert-manager-rfc2136-secret-0001').toString('base64');
const STATIC_SECRET = Buffer.from('a-second-key-with-a-fixed-name-list').toString('base64');
const CHALLENGE = `_acme-challenge.mycluster.alice.eu.${TUNNEL_ZONE}`;

/** Runs nsupdate (bind9-dnsutils) with `lines`; resolves with its exit code and output. */
function nsupdate(port: number, lines: string[], opts: { key?: string; tcp?: boolean } = {}): Promise<{ code: number; out: string }> {
  const args = [...(opts.key ? ['-y', opts.key] : []), ...(opts.tcp ? ['-v'] : []), '-t', '3'];
  // check-names off: nsupdate would itself refuse an A record at an underscore name
  const script = ['check-names off', `server 127.0.0.1 ${port}`, ...lines, 'send', ''].join('\n');
  return new Promise((resolve) => {
    const child = execFile('nsupdate', args, { timeout: 10_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
    child.stdin!.end(script);
  });
}

const KEY = `hmac-sha256:mycluster-key:${SECRET}`;

async function txt(port: number, name: string): Promise<string[]> {
  const out = await dig(port, [name, 'TXT', '+short']);
  return out.trim() === '' ? [] : out.trim().split('\n').sort();
}

describe('RFC 2136 updates signed with TSIG, for _acme-challenge TXT records', () => {
  let f: DdnsFixture;
  const config = {
    tsigKeys: [
      { name: 'mycluster-key', secret: SECRET, agentId: 'mycluster' },
      { name: 'static-key', secret: STATIC_SECRET, names: [`*.static.${TUNNEL_ZONE}`] },
    ],
  };
  beforeAll(async () => {
    f = await startDdnsFixture(config);
    await putRoute(f.nc, 'mycluster', `mycluster.alice.eu.${TUNNEL_ZONE}`);
    await putRoute(f.nc, 'bob-agent', `bobs.bob.eu.${TUNNEL_ZONE}`);
  });
  afterAll(async () => {
    await f?.stop();
  });

  it('nsupdate adds and removes TXT records at a name the key owns (UDP and TCP); the answers follow', async () => {
    const zone = `zone ${TUNNEL_ZONE}`;
    const add = await eventually(async () => {
      const r = await nsupdate(f.port, [zone, `update add ${CHALLENGE}. 60 TXT "token-one"`], { key: KEY });
      expect(r).toMatchObject({ code: 0 });
      return r;
    });
    expect(add.out).not.toMatch(/failed|error/i);
    expect(await txt(f.port, CHALLENGE)).toEqual(['"token-one"']);
    expect(await nsupdate(f.port, [zone, `update add ${CHALLENGE}. 60 TXT "token-two"`], { key: KEY, tcp: true })).toMatchObject({ code: 0 });
    const resolver = new Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([`127.0.0.1:${f.port}`]);
    expect((await resolver.resolveTxt(CHALLENGE)).map((r) => r.join('')).sort()).toEqual(['token-one', 'token-two']);
    // A queries for the challenge name still answer the edges: the tunnel zone's wildcard holds
    expect(await resolver.resolve4(CHALLENGE)).toEqual(['192.0.2.10']);
    expect(await nsupdate(f.port, [zone, `update delete ${CHALLENGE}. TXT "token-one"`], { key: KEY })).toMatchObject({ code: 0 });
    expect(await txt(f.port, CHALLENGE)).toEqual(['"token-two"']);
    // the dyn-zone twin of an owned name is owned too
    const dynChallenge = `_acme-challenge.mycluster.alice.eu.${DYN_ZONE}`;
    expect(await nsupdate(f.port, [`zone ${DYN_ZONE}`, `update add ${dynChallenge}. 60 TXT "dyn-token"`], { key: KEY })).toMatchObject({ code: 0 });
    expect(await txt(f.port, dynChallenge)).toEqual(['"dyn-token"']);
    expect(await nsupdate(f.port, [`zone ${DYN_ZONE}`, `update delete ${dynChallenge}. TXT`], { key: KEY })).toMatchObject({ code: 0 });
    expect(await dig(f.port, [dynChallenge, 'TXT'])).toContain('status: NXDOMAIN');
    // a key bound to a list of names
    const s = `_acme-challenge.static.${TUNNEL_ZONE}`;
    expect(await nsupdate(f.port, [zone, `update add ${s}. 60 TXT "static"`], { key: `hmac-sha256:static-key:${STATIC_SECRET}` })).toMatchObject({ code: 0 });
    expect(await txt(f.port, s)).toEqual(['"static"']);
  });

  it('refuses what the key may not do and changes nothing: unsigned, bad signature, unknown key, other names, other types', async () => {
    const zone = `zone ${TUNNEL_ZONE}`;
    const before = await txt(f.port, CHALLENGE);
    const attempts: Array<[string[], { key?: string }, RegExp]> = [
      [[zone, `update add ${CHALLENGE}. 60 TXT "unsigned"`], {}, /REFUSED/],
      [[zone, `update add ${CHALLENGE}. 60 TXT "forged"`], { key: `hmac-sha256:mycluster-key:${Buffer.from('not the right secret at all!!').toString('base64')}` }, /NOTAUTH|BADSIG|tsig/i],
      [[zone, `update add ${CHALLENGE}. 60 TXT "who"`], { key: `hmac-sha256:nobody-key:${SECRET}` }, /NOTAUTH|BADKEY|tsig/i],
      [[zone, `update add _acme-challenge.bobs.bob.eu.${TUNNEL_ZONE}. 60 TXT "steal"`], { key: KEY }, /REFUSED/],
      [[zone, `update add mycluster.alice.eu.${TUNNEL_ZONE}. 60 A 192.0.2.66`], { key: KEY }, /REFUSED/],
      [[zone, `update add ${CHALLENGE}. 60 A 192.0.2.66`], { key: KEY }, /REFUSED/],
      // one allowed change and one forbidden: neither is applied
      [[zone, `update add ${CHALLENGE}. 60 TXT "half"`, `update add _acme-challenge.bobs.bob.eu.${TUNNEL_ZONE}. 60 TXT "half"`], { key: KEY }, /REFUSED/],
      [['zone example.com', `update add _acme-challenge.example.com. 60 TXT "x"`], { key: KEY }, /NOTAUTH/],
    ];
    for (const [lines, opts, want] of attempts) {
      const r = await nsupdate(f.port, lines, opts);
      expect(r.code, lines.join(' | ')).not.toBe(0);
      expect(r.out, lines.join(' | ')).toMatch(want);
    }
    expect(await txt(f.port, CHALLENGE)).toEqual(before);
    expect(await txt(f.port, `_acme-challenge.bobs.bob.eu.${TUNNEL_ZONE}`)).toEqual([]);
  });

  it('NOTZONE for a record outside the update’s zone; a replayed update outside the time window gets BADTIME', async () => {
    const key = { name: wireName('mycluster-key'), secret: Buffer.from(SECRET, 'base64') };
    const update = (name: string): Buffer =>
      dnsPacket.encode({
        type: 'query',
        id: 77,
        flags: 5 << 11, // opcode UPDATE
        questions: [{ name: TUNNEL_ZONE, type: 'SOA', class: 'IN' }],
        authorities: [{ name, type: 'TXT', class: 'IN', ttl: 60, data: ['x'] }],
      } as never);
    const now = Math.floor(Date.now() / 1000);
    const outside = signRequest(update(`_acme-challenge.x.${DYN_ZONE}.example`), key, now);
    expect(rcodeOf((await udpExchange(f.port, outside))!)).toBe(10); // NOTZONE
    const stale = signRequest(update(CHALLENGE), key, now - 3600);
    const r = (await udpExchange(f.port, stale))!;
    expect(rcodeOf(r)).toBe(9); // NOTAUTH
    const tsig = readMessage(r).tsig!;
    expect(tsig.error).toBe(18); // BADTIME, signed, with our clock in Other Data
    expect(tsig.mac.length).toBe(32);
    expect(tsig.other.length).toBe(6);
  });

  it('updates are stored in JetStream: a replica sees them, and a restarted ddns answers them before anything else', async () => {
    const name = `_acme-challenge.mycluster.alice.eu.${TUNNEL_ZONE}`;
    expect(await nsupdate(f.port, [`zone ${TUNNEL_ZONE}`, `update add ${name}. 60 TXT "kept"`], { key: KEY })).toMatchObject({ code: 0 });
    const replica = await f.startDdns();
    expect(await txt(replica.address().port, name)).toContain('"kept"');
    await replica.stop();
    await f.ddns.stop();
    const again = await f.startDdns();
    // the first query after start() already has the data: start() resolves only once it is loaded
    expect(await txt(again.address().port, name)).toContain('"kept"');
  });
});
