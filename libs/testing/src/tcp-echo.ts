import { createServer, type Socket } from 'node:net';

export interface TcpEcho {
  port: number;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1 that writes back every byte it reads, with backpressure (pipe). */
export function startTcpEcho(): Promise<TcpEcho> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error(`startTcpEcho: expected a TCP address, got ${String(address)}`));
        return;
      }
      resolve({
        port: address.port,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
