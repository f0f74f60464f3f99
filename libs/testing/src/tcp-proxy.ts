import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxyTarget {
  host: string;
  port: number;
}

export interface TcpProxy {
  /** Port the proxy listens on (127.0.0.1). */
  readonly port: number;
  /** Number of client connections currently relayed. */
  readonly connections: number;
  /** Destroys every relayed connection on both sides and destroys new ones on arrival until `resume()`. */
  cut(): void;
  /** Accepts and relays new connections again. */
  resume(): void;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

/**
 * A TCP relay to `target` that a test can cut to simulate a network partition, e.g. between an agent
 * and NATS. Destroying (not ending) sockets makes the peers see a reset, as after a real cut.
 */
export function startTcpProxy(target: TcpProxyTarget): Promise<TcpProxy> {
  const pairs = new Set<readonly [Socket, Socket]>();
  let isCut = false;

  const server = createServer((client) => {
    if (isCut) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: target.host, port: target.port });
    const pair = [client, upstream] as const;
    pairs.add(pair);
    const teardown = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.once('close', teardown);
    upstream.once('close', teardown);
    client.on('error', teardown);
    upstream.on('error', teardown);
    client.pipe(upstream);
    upstream.pipe(client);
  });

  const cutAll = (): void => {
    for (const [client, upstream] of pairs) {
      client.destroy();
      upstream.destroy();
    }
    pairs.clear();
  };

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error(`startTcpProxy: expected a TCP address, got ${String(address)}`));
        return;
      }
      resolve({
        port: address.port,
        get connections() {
          return pairs.size;
        },
        cut() {
          isCut = true;
          cutAll();
        },
        resume() {
          isCut = false;
        },
        close: () =>
          new Promise<void>((done) => {
            isCut = true;
            cutAll();
            server.close(() => done());
          }),
      });
    });
  });
}
