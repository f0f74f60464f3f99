import type { Http2Session } from 'node:http2';
import type { Socket } from 'node:net';

/**
 * Knows every accepted socket and, for HTTP/1 sockets, how many responses are in flight on each, so
 * that a drain can close idle keep-alive connections at once and busy ones right after their response.
 * HTTP/2 sessions drain themselves with GOAWAY (`session.close()`).
 */
export class ConnectionTracker {
  readonly #sockets = new Set<Socket>();
  readonly #inFlight = new Map<Socket, number>();
  readonly #sessions = new Set<Http2Session>();
  #draining = false;

  get draining(): boolean {
    return this.#draining;
  }

  /** Every TCP socket a server accepted (the 'connection' event). */
  addSocket(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.#inFlight.delete(socket);
    });
  }

  addSession(session: Http2Session): void {
    this.#sessions.add(session);
    session.once('close', () => this.#sessions.delete(session));
    if (this.#draining) session.close();
  }

  /** An HTTP/1 request arrived on `socket`; call the returned function once its response is done. */
  http1RequestStarted(socket: Socket): () => void {
    const current = this.#inFlight.get(socket);
    if (current === undefined) socket.once('close', () => this.#inFlight.delete(socket));
    this.#inFlight.set(socket, (current ?? 0) + 1);
    return () => {
      const count = this.#inFlight.get(socket);
      if (count === undefined) return;
      this.#inFlight.set(socket, count - 1);
      if (this.#draining && count === 1) socket.end();
    };
  }

  /** A socket handed over to another protocol (WebSocket) is no longer this tracker's to drain. */
  forgetHttp1(socket: Socket): void {
    this.#inFlight.delete(socket);
  }

  drain(): void {
    this.#draining = true;
    for (const [socket, count] of this.#inFlight) if (count === 0) socket.end();
    for (const session of this.#sessions) session.close();
  }

  destroyAll(): void {
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#sockets) socket.destroy();
  }
}
