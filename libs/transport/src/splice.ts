import type { Socket } from 'node:net';
import type { TunnelSession } from './session.ts';

/**
 * Joins a TCP socket and a tunnel session both ways: bytes in order, a half-close carried as a
 * half-close, an abort on either side aborting the other. Resolves when both are closed.
 */
export function splice(socket: Socket, session: TunnelSession, head?: Buffer): Promise<void> {
  if (head && head.length > 0) session.write(head);
  socket.pipe(session);
  session.pipe(socket);
  socket.on('error', (err) => session.destroy(err));
  session.on('error', () => socket.destroy());
  socket.on('close', () => {
    if (!session.destroyed && !(session.writableFinished && session.readableEnded)) {
      session.destroy(new Error('socket closed'));
    }
  });
  session.on('close', () => {
    if (socket.destroyed) return;
    if (session.errored || !socket.writableEnded) socket.destroy();
    // a clean end: let the socket flush what it was given, then close it
    else if (!socket.writableFinished) {
      socket.once('finish', () => socket.destroy());
      setTimeout(() => socket.destroy(), 30_000).unref();
    } else socket.destroy();
  });
  return new Promise((resolve) => {
    let n = 0;
    const done = (): void => {
      if (++n === 2) resolve();
    };
    socket.once('close', done);
    session.once('close', done);
  });
}
