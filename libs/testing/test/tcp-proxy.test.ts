import { once } from 'node:events';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { startNats, startTcpEcho, startTcpProxy, type NatsServerHandle, type TcpEcho, type TcpProxy } from '../src/index.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function echoBehindProxy(): Promise<{ echo: TcpEcho; proxy: TcpProxy }> {
  const echo = await startTcpEcho();
  cleanups.push(() => echo.close());
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: echo.port });
  cleanups.push(() => proxy.close());
  return { echo, proxy };
}

async function open(port: number): Promise<Socket> {
  const socket = connectTcp({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  return socket;
}

function roundTrip(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const onData = (chunk: Buffer): void => {
      received += chunk.toString();
      if (received.length < text.length) return;
      socket.off('data', onData);
      socket.off('error', reject);
      resolve(received);
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(text);
  });
}

describe('startTcpProxy', () => {
  it('relays bytes both ways and counts connections', async () => {
    const { proxy } = await echoBehindProxy();
    const socket = await open(proxy.port);
    expect(await roundTrip(socket, 'hello')).toBe('hello');
    expect(proxy.connections).toBe(1);
    socket.destroy();
    await expect.poll(() => proxy.connections).toBe(0);
  });

  it('cut() drops open connections and refuses new ones until resume()', async () => {
    const { proxy } = await echoBehindProxy();
    const socket = await open(proxy.port);
    await roundTrip(socket, 'before');
    const closed = once(socket, 'close');

    proxy.cut();
    await closed;
    expect(proxy.connections).toBe(0);

    const refused = connectTcp({ host: '127.0.0.1', port: proxy.port });
    refused.on('error', () => undefined);
    await once(refused, 'close');
    expect(proxy.connections).toBe(0);

    proxy.resume();
    const again = await open(proxy.port);
    expect(await roundTrip(again, 'after')).toBe('after');
    again.destroy();
  });

  it('makes a NATS client disconnect and reconnect', async () => {
    const server: NatsServerHandle = await startNats({ jetstream: false });
    cleanups.push(() => server.stop());
    const proxy = await startTcpProxy({ host: new URL(server.url).hostname, port: server.port });
    cleanups.push(() => proxy.close());
    const nc = await connect({
      servers: `nats://127.0.0.1:${proxy.port}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 50,
      reconnectJitter: 0,
    });
    cleanups.push(() => nc.close());
    const seen: string[] = [];
    void (async () => {
      for await (const status of nc.status()) seen.push(status.type);
    })();

    proxy.cut();
    await expect.poll(() => seen).toContain('disconnect');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seen).not.toContain('reconnect');

    proxy.resume();
    await expect.poll(() => seen, { timeout: 5_000 }).toContain('reconnect');
    const sub = nc.subscribe('after.cut', { max: 1 });
    nc.publish('after.cut', 'still here');
    for await (const msg of sub) expect(msg.string()).toBe('still here');
  });
});
