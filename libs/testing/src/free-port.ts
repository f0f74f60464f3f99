import { createServer } from 'node:net';

/**
 * Asks the OS for a currently unused TCP port on `host`. The port is released before returning, so a
 * caller racing other processes may still lose it; `startNats` retries on that.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`freePort: expected a TCP address from listen(), got ${String(address)}`));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}
