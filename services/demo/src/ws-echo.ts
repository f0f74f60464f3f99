import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';

/** Above this many unsent bytes the echo stops reading from the client until the backlog drains. */
const BACKLOG_HIGH_WATER = 1024 * 1024;

export interface WsEcho {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Starts the closing handshake (1001) with every client. */
  closeAll(): void;
  /** Drops every client without a handshake. */
  terminateAll(): void;
  readonly clients: number;
}

/** A WebSocket server that sends every message back as it came (text stays text, binary binary). */
export function createWsEcho(logger: Logger): WsEcho {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });

  wss.on('connection', (ws: WebSocket) => {
    ws.on('error', (error) => logger.debug({ err: error.message }, 'demo.ws_error'));
    ws.on('message', (data, isBinary) => {
      ws.send(data, { binary: isBinary }, () => {
        if (ws.isPaused && ws.bufferedAmount < BACKLOG_HIGH_WATER) ws.resume();
      });
      if (ws.bufferedAmount >= BACKLOG_HIGH_WATER) ws.pause();
    });
  });

  return {
    handleUpgrade(req, socket, head) {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    },
    closeAll() {
      for (const ws of wss.clients) ws.close(1001, 'server stopping');
    },
    terminateAll() {
      for (const ws of wss.clients) ws.terminate();
    },
    get clients() {
      return wss.clients.size;
    },
  };
}
