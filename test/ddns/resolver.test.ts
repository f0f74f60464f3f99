import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { startNsd, startUnbound, type DnsServerHandle } from '@sluice/testing';
import { DYN_ZONE, TUNNEL_ZONE, startDdnsFixture, type DdnsFixture } from './support/ddns-fixture.ts';
import { eventually, putRoute, reportAgent } from './support/events.ts';

const has = (cmd: string): boolean => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd} || test -x /usr/sbin/${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/**
 * A user's custom domain, served by their own DNS (NSD here), CNAMEs to the agent's dyn name and
 * to a tunnel name; a real recursive resolver (Unbound, with 0x20 case randomisation on) follows
 * the chain into ddns. .ci/run installs both from Debian's packages.
 */
describe.skipIf(!has('nsd') || !has('unbound'))('custom domains resolve through a real recursive resolver', () => {
  let f: DdnsFixture;
  let nsd: DnsServerHandle;
  let unbound: DnsServerHandle;
  let resolver: Resolver;
  beforeAll(async () => {
    f = await startDdnsFixture();
    await putRoute(f.nc, 'mycluster', `mycluster.alice.eu.${TUNNEL_ZONE}`);
    await reportAgent(f.nc, 'mycluster', '203.0.113.7');
    nsd = await startNsd({
      'example.test': [
        '$ORIGIN example.test.',
        '$TTL 60',
        '@ IN SOA ns1.example.test. hostmaster.example.test. 1 3600 600 86400 60',
        '@ IN NS ns1.example.test.',
        'ns1 IN A 127.0.0.1',
        `home IN CNAME mycluster.alice.eu.${DYN_ZONE}.`,
        `www IN CNAME mycluster.alice.eu.${TUNNEL_ZONE}.`,
        '',
      ].join('\n'),
    });
    unbound = await startUnbound({ 'example.test': nsd.port, [TUNNEL_ZONE]: f.port, [DYN_ZONE]: f.port }, { useCapsForId: true });
    resolver = new Resolver({ timeout: 3000, tries: 1 });
    resolver.setServers([`127.0.0.1:${unbound.port}`]);
  });
  afterAll(async () => {
    await unbound?.stop();
    await nsd?.stop();
    await f?.stop();
  });

  it('a CNAME to the agent’s dyn name answers its public address; one to its tunnel name answers the edges', async () => {
    await eventually(async () => expect(await resolver.resolve4('home.example.test')).toEqual(['203.0.113.7']), 5000, 200);
    expect(await resolver.resolveCname('home.example.test')).toEqual([`mycluster.alice.eu.${DYN_ZONE}`]);
    expect(await resolver.resolve4('www.example.test')).toEqual(['192.0.2.10']);
    // NXDOMAIN travels through too (with ddns's SOA for the negative cache)
    await expect(resolver.resolve4(`nobody.${DYN_ZONE}`)).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });
});
