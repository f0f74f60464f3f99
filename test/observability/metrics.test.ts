import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Agent as HttpAgent } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, type ServiceProcess } from '@sluice/testing';
import { startGateway, type Gateway } from '../support/gateway.ts';
import { get } from '../support/http.ts';
import { scrape, type Scrape } from './support/prometheus-text.ts';
import { withServiceEnv } from './support/env.ts';

const HOST = 'demo.sluice.localhost';
const N = 20;
const KEEPALIVE = 10;
const MISSES = 3;

async function scrapeAll(procs: ServiceProcess[]): Promise<Map<string, Scrape>> {
  const out = new Map<string, Scrape>();
  for (const p of procs) out.set(p.name, await scrape(p.ready.opsPort));
  return out;
}

/** Polls until `check` stops throwing: counters of a closed connection land when its close is seen. */
async function eventually(check: () => Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Every `sluice_…` series name the dashboard's queries use. */
function dashboardMetricNames(): Set<string> {
  const dashboard = JSON.parse(readFileSync(join(repoRoot, 'deploy/grafana/dashboards/sluice.json'), 'utf8')) as unknown;
  const exprs: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if ((k === 'expr' || k === 'query') && typeof x === 'string') exprs.push(x);
        else walk(x);
      }
    }
  };
  walk(dashboard);
  expect(exprs.length).toBeGreaterThan(5);
  return new Set(exprs.flatMap((e) => e.match(/\bsluice_[a-zA-Z0-9_]+/g) ?? []));
}

describe('Prometheus metrics of every service', () => {
  let gw: Gateway;
  let procs: ServiceProcess[];

  beforeAll(async () => {
    // every service the stack spawns gets an ops server on a port of its own (0 = any free one)
    gw = await withServiceEnv({ OPS_PORT: '0' }, () => startGateway('core'));
    procs = gw.stack.processes();
    // the route is live once a request gets through
    await eventually(async () => expect((await get(gw.stack.httpPort, HOST)).status).toBe(200));
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('serves /healthz and /readyz on every service, and no service runs the tracing SDK without OTEL_* variables', async () => {
    expect(procs.map((p) => p.name).sort()).toEqual(['agent-demo', 'edge', 'registry', 'router']);
    for (const p of procs) {
      expect(p.ready.tracing, p.name).toBe(false);
      for (const path of ['/healthz', '/readyz']) expect((await fetch(`http://127.0.0.1:${String(p.ready.opsPort)}${path}`)).status, `${p.name} ${path}`).toBe(200);
    }
    // with tracing off the edge forwards the request head untouched
    const r = await get(gw.stack.httpPort, HOST, '/headers');
    expect(Object.keys(JSON.parse(r.body.toString()) as object).filter((h) => h.startsWith('trace'))).toEqual([]);
  });

  it(`counts ${N} one-request connections, ${KEEPALIVE} requests on one kept-alive connection and ${MISSES} route misses exactly`, async () => {
    const before = await scrapeAll(procs);
    for (let i = 0; i < N; i++) expect((await get(gw.stack.httpPort, HOST, '/size?n=1000')).status).toBe(200);
    const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < KEEPALIVE; i++) expect((await get(gw.stack.httpPort, HOST, '/size?n=1000', { agent: keepAlive })).status).toBe(200);
    keepAlive.destroy();
    for (let i = 0; i < MISSES; i++) expect((await get(gw.stack.httpPort, 'nobody.sluice.localhost')).status).toBe(404);

    await eventually(async () => {
      const after = await scrapeAll(procs);
      const d = (svc: string, name: string, labels?: Record<string, string>): number => after.get(svc)!.value(name, labels) - before.get(svc)!.value(name, labels);
      expect(d('edge', 'sluice_edge_connections_total', { proto: 'http', outcome: 'routed' })).toBe(N + 1);
      expect(d('edge', 'sluice_edge_connections_total', { proto: 'http', outcome: '404' })).toBe(MISSES);
      expect(d('edge', 'sluice_edge_http_requests_total', { outcome: 'forwarded' })).toBe(N + KEEPALIVE);
      expect(d('edge', 'sluice_edge_http_requests_total', { outcome: '404' })).toBe(MISSES);
      expect(d('edge', 'sluice_edge_route_misses_total', { proto: 'http', reason: 'not_found' })).toBe(MISSES);
      expect(d('edge', 'sluice_edge_assign_seconds_count')).toBe(N + 1 + MISSES);
      expect(after.get('edge')!.value('sluice_edge_active_connections')).toBe(0);
      expect(d('router', 'sluice_router_assignments_total', { result: 'assigned' })).toBe(N + 1);
      expect(d('router', 'sluice_router_assignments_total', { result: 'not_found' })).toBe(MISSES);
      expect(d('agent-demo', 'sluice_agent_connections_total', { proto: 'http', outcome: 'dialed' })).toBe(N + 1);
      expect(d('agent-demo', 'sluice_agent_dial_seconds_count')).toBe(N + 1);
      expect(after.get('agent-demo')!.value('sluice_agent_active_connections')).toBe(0);
      // both ends of the tunnel count the same bytes, each way
      const down = d('edge', 'sluice_edge_bytes_total', { direction: 'down' });
      expect(down).toBeGreaterThan((N + KEEPALIVE) * 1000);
      expect(d('agent-demo', 'sluice_agent_bytes_total', { direction: 'down' })).toBe(down);
      expect(d('agent-demo', 'sluice_agent_bytes_total', { direction: 'up' })).toBe(d('edge', 'sluice_edge_bytes_total', { direction: 'up' }));
    });

    // liveness gauges follow heartbeats: on a busy machine one may be late for a moment
    await eventually(async () => {
      const router = await scrape(gw.stack.router.ready.opsPort);
      expect(router.value('sluice_router_agents_online')).toBe(1);
      expect(router.value('sluice_router_edges_online')).toBe(1);
      expect(router.value('sluice_router_hostnames')).toBe(2);
    });
    const router = await scrape(gw.stack.router.ready.opsPort);
    const registry = await scrape(gw.stack.registry.ready.opsPort);
    expect(registry.value('sluice_registry_registrations_total', { result: 'ok' })).toBe(1);
    expect(registry.value('sluice_registry_hostnames_total', { result: 'accepted' })).toBe(2);
    // process metrics carry the service label and the sluice_ prefix
    expect(router.value('sluice_process_cpu_seconds_total', { service: 'router' })).toBeGreaterThan(0);
  });

  it('has a Grafana dashboard that asks only for metrics the services export', async () => {
    const exported = new Set<string>();
    for (const s of (await scrapeAll(procs)).values()) for (const n of s.names) exported.add(n);
    const used = dashboardMetricNames();
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((n) => !exported.has(n))).toEqual([]);
    // and it shows what the issue lists: per-edge and per-agent connections, rates, bytes, misses, assign time, agents
    for (const n of ['sluice_edge_active_connections', 'sluice_agent_active_connections', 'sluice_edge_connections_total', 'sluice_edge_bytes_total', 'sluice_edge_route_misses_total', 'sluice_edge_assign_seconds_bucket', 'sluice_router_agents_online']) {
      expect(used, n).toContain(n);
    }
  });
});
