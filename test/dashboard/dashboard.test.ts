// The web dashboard end to end: a real registry (in-process, REST API + dashboard), router, edge and
// agent (child processes), a real DNS server for domain verification, and Debian's Chromium driven
// by playwright-core. Screenshots of every page go to test-results/dashboard/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { codecs, subjects } from '@sluice/contracts';
import { freePort, repoRoot, spawnService, startNats, startTestDns, type NatsServerHandle, type ServiceProcess, type TestDns } from '@sluice/testing';
import { createRegistry, parseRegistryConfig, type Registry } from '@sluice/registry';
import { createKubeAgent, parseKubeAgentConfig } from '@sluice/k8s-agent';
import { get } from '../support/http.ts';
import { FakeKubeApi, ingress } from '../k8s/support/fake-kube-api.ts';
import { kubeConfigFor } from '../k8s/support/kube.ts';

const ZONE = 'sluice.localhost';
const SHOTS = join(repoRoot, 'test-results/dashboard');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/**
 * The few browser globals the page-side probes use. The repository's TypeScript has no DOM library
 * (services are Node code); functions given to page.evaluate run in Chromium, where these exist.
 */
interface InPage {
  document: {
    cookie: string;
    activeElement: { tagName: string; textContent: string | null } | null;
    documentElement: { scrollWidth: number; clientWidth: number };
    createElement(tag: 'canvas'): {
      width: number;
      height: number;
      getContext(kind: '2d'): { drawImage(img: unknown, x: number, y: number): void; getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
    };
  };
  navigator: { clipboard: { readText(): Promise<string> } };
  Image: new () => { src: string; width: number; height: number; decode(): Promise<void> };
}
const clipboardText = (): Promise<string> => (globalThis as unknown as InPage).navigator.clipboard.readText();

const logger = pino({ level: process.env.SLUICE_TEST_LOG_LEVEL ?? 'silent' });

let nats: NatsServerHandle;
let nc: NatsConnection;
let dns: TestDns;
let registry: Registry;
let router: ServiceProcess;
let edge: ServiceProcess;
let upstream: Server;
let upstreamPort: number;
/** Requests to `/hold` wait here, open, until the test ends them. */
const held: ServerResponse[] = [];
let edgePort: number;
let base: string;
let aliceToken: string;
let bobToken: string;
const agents: ServiceProcess[] = [];
const profiles: string[] = [];
const contexts: BrowserContext[] = [];
const pageProblems: string[] = [];

async function api(method: string, path: string, auth: { token?: string; cookie?: string; csrf?: string; origin?: string } = {}, body?: unknown): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(base + path, {
    method,
    headers: {
      ...(auth.token ? { authorization: `Bearer ${auth.token}` } : {}),
      ...(auth.cookie ? { cookie: auth.cookie } : {}),
      ...(auth.csrf ? { 'x-csrf-token': auth.csrf } : {}),
      ...(auth.origin ? { origin: auth.origin } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** Signs in over the API as the page does; returns the cookie to send back and the CSRF token. */
async function signIn(token: string): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const r = await api('POST', '/session', { token });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  const setCookie = r.headers.get('set-cookie')!;
  return { cookie: setCookie.split(';')[0]!, csrf: r.json.csrf as string, setCookie };
}

async function newUser(name: string): Promise<string> {
  const r = await api('POST', '/v1/users', { token: registry.bootstrapToken! }, { name });
  expect(r.status).toBe(201);
  return r.json.token as string;
}

async function registerOverNats(token: string) {
  const m = await nc.request(subjects.registryRegister, codecs.registerRequest.encode({ v: 1, token, transport: 'core', hostnames: [], generate: true }), { timeout: 5000 });
  return codecs.registerReply.decode(m.data);
}

async function browserFor(): Promise<BrowserContext> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-chromium-'));
  profiles.push(dir);
  // a persistent context on a fresh, empty profile: nothing from an earlier run, no browser download
  const ctx = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1100, height: 800 } });
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  ctx.setDefaultTimeout(10_000);
  // the page must run under its Content-Security-Policy and without uncaught errors
  ctx.on('page', (p) => {
    p.on('pageerror', (err) => pageProblems.push(`${p.url()}: ${err.message}`));
    p.on('console', (m) => {
      if (m.type() === 'error' && /Content.Security.Policy|Uncaught|React/i.test(m.text())) pageProblems.push(`${p.url()}: ${m.text()}`);
    });
  });
  contexts.push(ctx);
  return ctx;
}

async function signInInBrowser(page: Page, token: string): Promise<void> {
  await page.goto(`${base}/agents`);
  await page.waitForURL(/\/signin\?next=%2Fagents$/);
  await page.getByLabel('API token').fill(token);
  await page.keyboard.press('Enter');
  await page.waitForURL(`${base}/agents`);
  await page.getByRole('heading', { level: 1, name: 'Agents' }).waitFor();
}

/** Saves a full-page screenshot and checks it is a picture, not one flat colour. */
async function screenshot(page: Page, name: string): Promise<void> {
  const png = await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const probe = await page.context().newPage();
  const stats = await probe.evaluate(async (b64) => {
    const w = globalThis as unknown as InPage;
    const img = new w.Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = w.document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const g = c.getContext('2d')!;
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    const counts = new Map<number, number>();
    for (let i = 0; i < d.length; i += 4) {
      const k = (d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const top = Math.max(...counts.values());
    return { width: img.width, height: img.height, colours: counts.size, topShare: top / (d.length / 4) };
  }, png.toString('base64'));
  await probe.close();
  expect(stats.width, name).toBeGreaterThan(300);
  expect(stats.colours, `${name}: distinct colours`).toBeGreaterThan(16);
  expect(stats.topShare, `${name}: share of the most common colour`).toBeLessThan(0.97);
}

beforeAll(async () => {
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  // the front end is built, not committed: build it here when missing or older than its sources
  const built = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/build-dashboard.ts'), '--if-stale'], { cwd: repoRoot, encoding: 'utf8' });
  expect(built.status, built.stderr).toBe(0);

  upstream = createServer((req, res) => {
    if (req.url === '/big') return void res.end(Buffer.alloc(1536 * 1024, 'x'));
    if (req.url === '/hold') {
      res.writeHead(200, { 'content-type': 'text/plain' }).write('held open\n');
      return void held.push(res);
    }
    res.end(`hello from upstream: ${req.headers.host ?? ''} ${req.url ?? ''}`);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as { port: number }).port;
  [nats, dns, edgePort] = await Promise.all([startNats(), startTestDns(), freePort()]);
  nc = await connect({ servers: nats.url });
  registry = createRegistry(
    parseRegistryConfig(JSON.stringify({
      zone: ZONE, region: 'eu', publicHttpPort: edgePort, dnsServers: [dns.server],
      api: { port: 0, requestsPerMinute: 100_000, verificationsPerMinute: 100, authFailuresPerMinute: 1000 },
    }), 'test'),
    { nc, logger },
  );
  await registry.start();
  base = `http://127.0.0.1:${registry.apiPort}`;
  [router, edge] = await Promise.all([
    spawnService('router', 'services/router/src/main.ts', { NATS_URL: nats.url }),
    spawnService('edge', 'services/edge/src/main.ts', { NATS_URL: nats.url, EDGE_HTTP_PORT: String(edgePort), EDGE_TLS_PORT: String(await freePort()), EDGE_GRACE_MS: '1000' }),
  ]);
  aliceToken = await newUser('alice');
  bobToken = await newUser('bob');
});

afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
  for (const d of profiles) rmSync(d, { recursive: true, force: true });
  await Promise.all([...agents, edge, router].filter(Boolean).map((p) => p.stop(5000)));
  await registry?.stop();
  await nc?.drain();
  await dns?.stop();
  await nats?.stop();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

describe('web dashboard in Chromium', () => {
  let page: Page;
  let ctx: BrowserContext;

  it('signs in with an API token into an httpOnly, SameSite=Strict session cookie', async () => {
    ctx = await browserFor();
    page = await ctx.newPage();
    await page.goto(`${base}/agents`);
    await page.waitForURL(/\/signin\?next=%2Fagents$/);
    await page.getByLabel('API token').fill('slt_wrong_AAAAAAAAAAAAAAAAAAAAAAAA');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'unknown or revoked' }).waitFor();
    await screenshot(page, 'signin');
    await signInInBrowser(page, aliceToken);
    const [cookie] = await ctx.cookies(base);
    expect(cookie).toMatchObject({ name: 'sluice_session', httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(cookie!.value).not.toBe(aliceToken); // a session token of its own, not the CLI token
    expect(await page.evaluate(() => (globalThis as unknown as InPage).document.cookie)).toBe('');
    expect(await page.getByText('Signed in as alice').count()).toBe(1);
  });

  it('creates an agent, shows its credentials once with a copy button, and shows it online with its hostnames', async () => {
    await page.getByLabel('Name').fill('web');
    await page.getByRole('button', { name: 'Create agent' }).click();
    const creds = page.getByRole('region', { name: 'Credentials for web' });
    await creds.waitFor();
    const token = (await creds.locator('code').first().textContent())!;
    expect(token).toMatch(/^sla_/);
    await creds.getByRole('button', { name: 'Copy agent token' }).click();
    await creds.getByRole('button', { name: 'Copy agent token' }).filter({ hasText: 'Copied' }).waitFor();
    expect(await page.evaluate(clipboardText)).toBe(token);
    await screenshot(page, 'agent-credentials');
    await creds.getByRole('button', { name: 'I have saved them' }).click();
    await creds.waitFor({ state: 'detached' });

    const hostname = `web.alice.eu.${ZONE}`;
    agents.push(
      await spawnService('agent-web', 'services/agent/src/main.ts', {
        NATS_URL: nats.url,
        AGENT_CONFIG_JSON: JSON.stringify({ nats: nats.url, token, transport: 'core', generate: true, graceMs: 500, ingress: [
          { hostname, service: `http://127.0.0.1:${upstreamPort}` },
          // not alice's: refused, and the page says why
          { hostname: 'api.example.org', service: `http://127.0.0.1:${upstreamPort}` },
        ] }),
      }),
    );
    await page.reload();
    const card = page.getByRole('article', { name: 'web' });
    await card.getByText('Online', { exact: true }).waitFor({ timeout: 15_000 });
    await card.getByRole('listitem').filter({ hasText: hostname }).first().waitFor();
    const refused = card.getByRole('listitem').filter({ hasText: 'api.example.org' });
    expect(await refused.textContent()).toMatch(/not owned/);
    for (const text of ['Refused claims', 'Region', 'eu', 'Tunnel address', hostname, 'DDNS address', `web.alice.eu.dyn.${ZONE}`]) expect(await card.textContent()).toContain(text);
    // shown once: never again, not even to its owner
    expect(await page.content()).not.toContain(token);
    await screenshot(page, 'agents');
  });

  it('shows a tunneled request in the live view, and holds new ones while paused', async () => {
    await page.getByRole('link', { name: 'Live' }).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/live`);
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    const host = `web.alice.eu.${ZONE}`;
    const r = await get(edgePort, host, '/first');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toContain('hello from upstream');
    const rows = page.locator('table.live tbody tr');
    await rows.first().waitFor();
    const row = await rows.first().textContent();
    expect(row).toContain(host);
    expect(row).toContain('web'); // the agent
    expect(row).toContain('routed');
    expect(row).toMatch(/127\.0\.0\.1:\d+/);

    const pause = page.getByRole('button', { name: 'Pause' });
    await pause.click();
    expect(await page.getByRole('button', { name: /Resume/ }).getAttribute('aria-pressed')).toBe('true');
    expect((await get(edgePort, host, '/second')).status).toBe(200);
    await page.getByRole('button', { name: 'Resume (1)' }).waitFor();
    expect(await rows.count()).toBe(1);
    await page.getByRole('button', { name: 'Resume (1)' }).click();
    await rows.nth(1).waitFor();
    expect(await rows.count()).toBe(2);
    await screenshot(page, 'live');
  });

  it("shows an agent's page: version, public address, open connections, last-minute bytes, and each hostname's source", async () => {
    const host = `web.alice.eu.${ZONE}`;
    const big = await get(edgePort, host, '/big');
    expect(big.body.length).toBe(1536 * 1024);
    // a response that stays open: one active connection while the page looks
    const open = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: edgePort, path: '/hold', headers: { host }, agent: false }, resolve);
      req.on('error', reject);
      req.end();
    });
    try {
      await page.goto(`${base}/agents`);
      const card = page.getByRole('article', { name: 'web' });
      await card.getByText('Online', { exact: true }).waitFor();
      // from the card to the agent's page by the keyboard
      await card.getByRole('link', { name: /Hostnames and where they come from/ }).focus();
      await page.keyboard.press('Enter');
      await page.waitForURL(`${base}/agents/web?region=eu`);
      await page.getByRole('heading', { level: 1, name: 'Agent web' }).waitFor();
      expect(await page.evaluate(() => (globalThis as unknown as InPage).document.activeElement?.tagName)).toBe('H1');
      const status = page.getByRole('region', { name: 'Status' });
      const fact = (term: string) => status.locator(`dt:text-is("${term}") + dd`);
      // the page polls every 5 s and the agent heartbeats every 300 ms
      await fact('Active connections').filter({ hasText: /^1$/ }).waitFor({ timeout: 15_000 });
      expect(await fact('Version').textContent()).toMatch(/^sluice-agent\/\d+\.\d+\.\d+/);
      // what the NATS server saw the agent connect from: this machine
      expect(await fact('Public address').textContent()).toMatch(/^127\.0\.0\.1 \(as the gateway sees it, reported (just now|\d+ s ago|\d+ min ago)\)$/);
      expect(await fact('Connected since').textContent()).toMatch(/^(just now|\d+ s ago|\d+ min ago)$/);
      const minute = (await fact('Last minute').textContent())!;
      expect(minute).toMatch(/^\d+(\.\d)? (B|KiB) in, (1\.[5-9]|[2-9](\.\d)?) MiB out$/);
      expect(await status.getByText('Online', { exact: true }).count()).toBe(1);

      const rows = page.locator('table.data tbody tr');
      const row = (h: string) => rows.filter({ has: page.locator('td[data-label="Hostname"]', { hasText: new RegExp(`^${h.replace(/\./g, '\\.')}$`) }) });
      expect(await row(host).locator('td[data-label="Source"]').textContent()).toBe('config');
      expect(await row(host).locator('td[data-label="State"]').textContent()).toBe('routed');
      expect(await row('api.example.org').locator('td[data-label="Source"]').textContent()).toBe('config');
      expect(await row('api.example.org').locator('td[data-label="State"]').textContent()).toBe('refused');
      expect(await row('api.example.org').locator('td[data-label="Why refused"]').textContent()).toMatch(/not owned/);
      await screenshot(page, 'agent');
    } finally {
      for (const r of held.splice(0)) r.end('done\n');
      open.resume();
    }
    // the closed connection is no longer counted
    await page.getByRole('region', { name: 'Status' }).locator('dt:text-is("Active connections") + dd').filter({ hasText: /^0$/ }).waitFor({ timeout: 15_000 });
  });

  it("shows a Kubernetes agent's claims by Ingress namespace/name, at desktop and phone width", async () => {
    const created = await api('POST', '/v1/agents', { token: aliceToken }, { name: 'kube' });
    expect(created.status).toBe(201);
    const tunnel = `kube.alice.eu.${ZONE}`;
    // the Kubernetes agent against a fake API server, with two Ingresses of one namespace sharing a host
    const kubeApi = new FakeKubeApi();
    await kubeApi.start();
    kubeApi.create('ingressclasses', { metadata: { name: 'nginx', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } }, spec: { controller: 'k8s.io/ingress-nginx' } });
    kubeApi.create('ingresses', ingress('shop', 'storefront', [`shop.${tunnel}`, 'shop.example.net']));
    kubeApi.create('ingresses', ingress('shop', 'storefront-api', [`shop.${tunnel}`, `api.${tunnel}`]));
    const kube = createKubeAgent(
      parseKubeAgentConfig({
        token: created.json.credentials.token, transport: 'core', settleMs: 20, heartbeatMs: 300, graceMs: 500,
        // the upstream plays the ingress controller
        controller: { host: '127.0.0.1', httpPort: upstreamPort, tlsPort: upstreamPort },
        backoff: { initialMs: 100, maxMs: 1_000 }, clusterIssuers: { enabled: false },
      }),
      { nc, logger, kube: kubeConfigFor(kubeApi) },
    );
    try {
      await kube.start();
      expect((await get(edgePort, `api.${tunnel}`, '/k')).body.toString()).toContain(`hello from upstream: api.${tunnel} /k`);
      await page.goto(`${base}/agents/kube?region=eu`);
      await page.getByRole('heading', { level: 1, name: 'Agent kube' }).waitFor();
      const status = page.getByRole('region', { name: 'Status' });
      await status.getByText('Online', { exact: true }).waitFor({ timeout: 15_000 });
      expect(await status.locator('dt:text-is("Version") + dd').textContent()).toMatch(/^sluice-k8s-agent\/\d+\.\d+\.\d+/);
      const rows = page.locator('table.data tbody tr');
      await rows.first().waitFor();
      const sourceOf = async (h: string) =>
        rows.filter({ has: page.locator('td[data-label="Hostname"]', { hasText: new RegExp(`^${h.replace(/\./g, '\\.')}$`) }) }).locator('td[data-label="Source"] .source').allTextContents();
      expect(await sourceOf(`shop.${tunnel}`)).toEqual(['Ingress shop/storefront', 'Ingress shop/storefront-api']);
      expect(await sourceOf(`api.${tunnel}`)).toEqual(['Ingress shop/storefront-api']);
      expect(await sourceOf('shop.example.net')).toEqual(['Ingress shop/storefront']); // refused: not alice's
      expect(await sourceOf(tunnel)).toEqual(['cli']); // the generated tunnel address
      await screenshot(page, 'agent-ingress');
      await page.setViewportSize({ width: 390, height: 844 });
      await page.reload();
      await rows.first().waitFor();
      const overflow = await page.evaluate(() => {
        const root = (globalThis as unknown as InPage).document.documentElement;
        return root.scrollWidth - root.clientWidth;
      });
      expect(overflow, '/agents/kube scrolls sideways at 390 px').toBeLessThanOrEqual(0);
      await screenshot(page, 'agent-ingress-phone');
    } finally {
      await page.setViewportSize({ width: 1100, height: 800 });
      await kube.stop();
      await kubeApi.stop();
      expect((await api('DELETE', '/v1/agents/kube', { token: aliceToken })).status).toBe(204);
    }
  });

  it('adds a domain, shows the exact DNS record, and turns verified once the record is in DNS', async () => {
    await page.getByRole('link', { name: 'Domains' }).click();
    await page.waitForURL(`${base}/domains`);
    await page.getByLabel('Domain', { exact: true }).fill('shop.example.com');
    await page.keyboard.press('Enter');
    const card = page.getByRole('article', { name: 'shop.example.com' });
    await card.getByText('Pending', { exact: true }).waitFor();
    const name = await card.locator('.field', { hasText: 'record name' }).locator('code').textContent();
    const value = (await card.locator('.field', { hasText: 'record value' }).locator('code').textContent())!;
    expect(name).toBe('_sluice-challenge.shop.example.com');
    expect(value).toMatch(/^sluice-verify=/);
    await card.getByRole('button', { name: 'Copy record value' }).click();
    expect(await page.evaluate(clipboardText)).toBe(value);

    await card.getByRole('button', { name: 'Verify' }).click();
    await card.getByText('Not verified yet').waitFor();
    expect(await card.locator('ul.missing').textContent()).toContain('_sluice-challenge.shop.example.com');
    await screenshot(page, 'domains-pending');

    dns.set({ type: 'TXT', name: '_sluice-challenge.shop.example.com', value });
    await card.getByRole('button', { name: 'Verify' }).click();
    await card.getByText('Verified', { exact: true }).waitFor();
    expect(await card.textContent()).toContain('Verified by TXT record');
    await screenshot(page, 'domains');
  });

  it('rotates and deletes an agent: each revokes the credentials it replaced', async () => {
    await page.getByRole('link', { name: 'Agents' }).click();
    await page.getByLabel('Name').fill('temp');
    await page.getByRole('button', { name: 'Create agent' }).click();
    let creds = page.getByRole('region', { name: 'Credentials for temp' });
    const first = (await creds.locator('code').first().textContent())!;
    expect((await registerOverNats(first)).ok).toBe(true);
    await creds.getByRole('button', { name: 'I have saved them' }).click();

    const card = page.getByRole('article', { name: 'temp' });
    await card.getByRole('button', { name: 'Rotate credentials' }).click();
    await card.getByRole('button', { name: 'Rotate', exact: true }).click(); // the confirmation, in place
    creds = page.getByRole('region', { name: 'Credentials for temp' });
    await creds.waitFor();
    const second = (await creds.locator('code').first().textContent())!;
    expect(second).toMatch(/^sla_/);
    expect(second).not.toBe(first);
    expect((await registerOverNats(first)).error?.message).toMatch(/unknown or revoked/);
    expect((await registerOverNats(second)).ok).toBe(true);

    await card.getByRole('button', { name: 'Delete' }).click();
    await card.getByRole('button', { name: 'Delete agent' }).click();
    await card.waitFor({ state: 'detached' });
    await creds.waitFor({ state: 'detached' });
    expect((await registerOverNats(second)).error?.message).toMatch(/unknown or revoked/);
    expect((await api('GET', '/v1/agents', { token: aliceToken })).json.map((a: { name: string }) => a.name)).toEqual(['web']);
  });

  it('works with the keyboard alone and reads at phone width', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}/agents`);
    await page.getByRole('heading', { level: 1, name: 'Agents' }).waitFor();
    // the page focuses its heading; from there the skip link and the navigation are reachable by Tab
    await page.keyboard.press('Shift+Tab');
    let guard = 0;
    while ((await page.evaluate(() => (globalThis as unknown as InPage).document.activeElement?.textContent)) !== 'Domains' && guard++ < 20) await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/domains`);
    expect(await page.evaluate(() => (globalThis as unknown as InPage).document.activeElement?.tagName)).toBe('H1');
    for (const [path, name] of [['/agents', 'agents-phone'], ['/domains', 'domains-phone'], ['/live', 'live-phone']] as const) {
      await page.goto(base + path);
      await page.locator('h1').waitFor();
      if (path === '/live') {
        await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
        await get(edgePort, `web.alice.eu.${ZONE}`, '/phone');
        await page.locator('table.live tbody tr').first().waitFor();
      } else await page.locator('article').first().waitFor();
      const overflow = await page.evaluate(() => {
        const root = (globalThis as unknown as InPage).document.documentElement;
        return root.scrollWidth - root.clientWidth;
      });
      expect(overflow, `${path} scrolls sideways at 390 px`).toBeLessThanOrEqual(0);
      await screenshot(page, name);
    }
    await page.setViewportSize({ width: 1100, height: 800 });
  });
});

describe('dashboard security', () => {
  afterAll(() => expect(pageProblems).toEqual([]));

  it("API: a user's session sees and changes only their own agents, domains and hostnames", async () => {
    const bob = await signIn(bobToken);
    const asBob = { cookie: bob.cookie, csrf: bob.csrf };
    expect((await api('GET', '/v1/me', asBob)).json.name).toBe('bob');
    expect((await api('GET', '/v1/agents', asBob)).json).toEqual([]);
    expect((await api('GET', '/v1/agents/web', asBob)).status).toBe(404);
    expect((await api('GET', '/v1/domains', asBob)).json).toEqual([]);
    expect((await api('GET', '/v1/hostnames', asBob)).json).toEqual([]);
    expect((await api('GET', '/v1/domains/shop.example.com', asBob)).status).toBe(404);
    expect((await api('POST', '/v1/domains/shop.example.com/verify', asBob)).status).toBe(404);
    expect((await api('DELETE', '/v1/agents/web', asBob)).status).toBe(404);
    expect((await api('POST', '/v1/agents/web/credentials', asBob)).status).toBe(404);
    expect((await api('DELETE', '/v1/domains/shop.example.com', asBob)).status).toBe(404);
    // alice's things are untouched
    expect((await api('GET', '/v1/agents/web', { token: aliceToken })).status).toBe(200);
    expect((await api('GET', '/v1/domains/shop.example.com', { token: aliceToken })).json.state).toBe('verified');
  });

  it("API: the live stream carries only the user's own connections", async () => {
    const bob = await signIn(bobToken);
    expect((await api('POST', '/v1/agents', { cookie: bob.cookie, csrf: bob.csrf }, { name: 'b1' })).status).toBe(201);
    const ac = new AbortController();
    const res = await fetch(`${base}/v1/live`, { headers: { cookie: bob.cookie }, signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const until = async (what: string): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!text.includes(what)) {
        if (Date.now() > deadline) throw new Error(`no ${what} in the stream: ${text}`);
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended: ${text}`);
        text += new TextDecoder().decode(value);
      }
    };
    await until(': connected');
    // alice's connection first, then bob's own (his agent never ran: no route); if alice's leaked it would come first
    expect((await get(edgePort, `web.alice.eu.${ZONE}`, '/private')).status).toBe(200);
    expect((await get(edgePort, `x.b1.bob.eu.${ZONE}`, '/mine')).status).toBeGreaterThanOrEqual(400);
    await until(`x.b1.bob.eu.${ZONE}`);
    ac.abort();
    expect(text).toContain('"status":"not_found"');
    expect(text).not.toContain('alice');
  });

  it('refuses state-changing requests authenticated by the cookie without the CSRF token (403)', async () => {
    const alice = await signIn(aliceToken);
    expect(alice.setCookie).toMatch(/HttpOnly/);
    expect(alice.setCookie).toMatch(/SameSite=Strict/);
    const cookieOnly = { cookie: alice.cookie };
    const wrong = { cookie: alice.cookie, csrf: 'A'.repeat(43) };
    for (const [method, path, body] of [
      ['POST', '/v1/agents', { name: 'sneaky' }],
      ['POST', '/v1/tokens', { name: 'sneaky' }],
      ['POST', '/v1/domains', { domain: 'sneaky.example.com' }],
      ['POST', '/v1/domains/shop.example.com/verify', undefined],
      ['POST', '/v1/agents/web/credentials', undefined],
      ['DELETE', '/v1/agents/web', undefined],
      ['DELETE', '/v1/domains/shop.example.com', undefined],
      ['DELETE', '/session', undefined],
    ] as const) {
      for (const auth of [cookieOnly, wrong]) {
        const r = await api(method, path, auth, body);
        expect(r.status, `${method} ${path} ${auth === wrong ? 'with a wrong token' : 'without a token'}`).toBe(403);
        expect(r.json.error.code).toBe('SLUICE_CSRF');
      }
    }
    // nothing happened
    expect((await api('GET', '/v1/agents', cookieOnly)).json.map((a: { name: string }) => a.name)).toEqual(['web']);
    expect((await api('GET', '/v1/domains', cookieOnly)).json.map((d: { domain: string }) => d.domain)).toEqual(['shop.example.com']);
    // reading needs no CSRF token, and with it a change goes through
    expect((await api('POST', '/v1/tokens', { cookie: alice.cookie, csrf: alice.csrf }, { name: 'made-with-csrf' })).status).toBe(201);
    // another site cannot sign a browser in (login CSRF)
    expect((await api('POST', '/session', { token: aliceToken, origin: 'http://evil.example' })).status).toBe(403);
    // a CLI token set as the cookie by hand is not a session
    expect((await api('GET', '/v1/me', { cookie: `sluice_session=${aliceToken}` })).status).toBe(401);
    // signing out revokes the session: the cookie stops working
    expect((await api('DELETE', '/session', { cookie: alice.cookie, csrf: alice.csrf })).status).toBe(204);
    expect((await api('GET', '/v1/me', cookieOnly)).status).toBe(401);
    expect((await api('GET', '/session', cookieOnly)).status).toBe(401);
  });

  it("browser: another user's pages never show alice's agents, domains or connections, and a cross-site page cannot act with the cookie", async () => {
    const ctx = await browserFor();
    const page = await ctx.newPage();
    await signInInBrowser(page, bobToken);
    await page.getByRole('article', { name: 'b1' }).waitFor();
    await screenshot(page, 'bob-agents');
    await page.getByRole('link', { name: 'Domains' }).click();
    await page.getByText('No custom domains yet.').waitFor();
    await screenshot(page, 'bob-domains');
    await page.getByRole('link', { name: 'Live' }).click();
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    await get(edgePort, `web.alice.eu.${ZONE}`, '/alice-only');
    await get(edgePort, `y.b1.bob.eu.${ZONE}`, '/bob');
    await page.locator('table.live tbody tr').filter({ hasText: `y.b1.bob.eu.${ZONE}` }).waitFor();
    await screenshot(page, 'bob-live');
    for (const path of ['/agents', '/domains', '/live']) {
      if (path !== '/live') {
        await page.goto(base + path);
        await page.locator('h1').waitFor();
        await page.waitForLoadState('networkidle');
      }
      const text = await page.locator('body').innerText();
      for (const secret of ['alice', 'shop.example.com', 'web.alice']) expect(text, `${path} shows ${secret}`).not.toContain(secret);
    }

    // a page on another site (localhost is not 127.0.0.1) posts to the API with the browser's cookies
    const evil = createServer((_req, res) => res.setHeader('content-type', 'text/html').end('<!doctype html><title>evil</title>'));
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    const evilPage = await ctx.newPage();
    await evilPage.goto(`http://localhost:${(evil.address() as { port: number }).port}/`);
    await evilPage.evaluate(async (target) => {
      for (const body of [JSON.stringify({ name: 'planted' }), 'name=planted']) {
        await fetch(`${target}/v1/agents`, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body }).catch(() => undefined);
      }
    }, base);
    await evilPage.close();
    evil.closeAllConnections();
    await new Promise((r) => evil.close(r));
    expect((await api('GET', '/v1/agents', { token: bobToken })).json.map((a: { name: string }) => a.name)).toEqual(['b1']);
  });
});
