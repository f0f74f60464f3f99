import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, collectDefaultMetrics } from 'prom-client';

export interface OpsServer {
  readonly registry: Registry;
  listen(port: number, host?: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * `/metrics` (Prometheus), `/healthz` (process alive) and `/readyz` (serving) for one service.
 * Each service instance gets its own metrics registry: no module-level state between instances.
 */
export function createOpsServer(service: string, isReady: () => boolean): OpsServer {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  // sluice_process_cpu_seconds_total, sluice_nodejs_eventloop_lag_seconds, …
  collectDefaultMetrics({ register: registry, prefix: 'sluice_' });
  let server: Server | undefined;
  return {
    registry,
    async listen(port, host = '127.0.0.1') {
      server = createServer((req, res) => {
        if (req.url === '/metrics') {
          registry.metrics().then(
            (text) => {
              res.writeHead(200, { 'content-type': registry.contentType });
              res.end(text);
            },
            (err: unknown) => {
              res.writeHead(500);
              res.end(String(err));
            },
          );
        } else if (req.url === '/healthz') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('ok\n');
        } else if (req.url === '/readyz') {
          const ok = isReady();
          res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
          res.end(ok ? 'ready\n' : 'not ready\n');
        } else {
          res.writeHead(404);
          res.end();
        }
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(port, host, () => resolve());
      });
      return (server.address() as AddressInfo).port;
    },
    async close() {
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    },
  };
}
