import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { startNats, type NatsServerHandle } from '../src/index.ts';

const servers: NatsServerHandle[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});

async function started(opts?: Parameters<typeof startNats>[0]): Promise<NatsServerHandle> {
  const server = await startNats(opts);
  servers.push(server);
  return server;
}

describe('startNats', () => {
  it('starts a JetStream-enabled server on its own port', async () => {
    const server = await started();
    expect(new URL(server.url).port).toBe(String(server.port));
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.getAccountInfo();
      expect(info.streams).toBe(0);
    } finally {
      await nc.close();
    }
  });

  it('gives two servers different ports and store dirs', async () => {
    const [a, b] = await Promise.all([started(), started()]);
    expect(a?.port).not.toBe(b?.port);
    expect(a?.storeDir).not.toBe(b?.storeDir);
  });

  it('keeps the port and a file-stored stream across restart()', async () => {
    const server = await started();
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'KEEP', subjects: ['keep.>'], storage: 'file' });
      const js = jetstream(nc);
      for (let i = 0; i < 5; i += 1) await js.publish('keep.x', `m${i}`);
      const pidBefore = server.pid;

      await server.restart();

      // A container has no local pid; a local process gets a new one.
      if (pidBefore !== undefined) expect(server.pid).not.toBe(pidBefore);
      const nc2 = await connect({ servers: server.url });
      try {
        const info = await (await jetstreamManager(nc2)).streams.info('KEEP');
        expect(info.state.messages).toBe(5);
        expect(info.config.storage).toBe('file');
      } finally {
        await nc2.close();
      }
    } finally {
      await nc.close();
    }
  });

  it('recovers the store after kill() and restart()', async () => {
    const server = await started();
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'CRASH', subjects: ['crash'], storage: 'file' });
    await jetstream(nc).publish('crash', 'survives');
    await nc.close();

    await server.kill();
    await server.restart();

    const nc2 = await connect({ servers: server.url });
    try {
      const info = await (await jetstreamManager(nc2)).streams.info('CRASH');
      expect(info.state.messages).toBe(1);
    } finally {
      await nc2.close();
    }
  });

  it('removes its temp store on stop() but keeps a caller-given one', async () => {
    const own = await startNats();
    await own.stop();
    expect(existsSync(own.storeDir)).toBe(false);

    const dir = await mkdtemp(join(tmpdir(), 'sluice-given-store-'));
    try {
      const given = await startNats({ storeDir: dir });
      expect(given.storeDir).toBe(dir);
      await given.stop();
      expect(existsSync(dir)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('starts without JetStream and applies extraConfig', async () => {
    const server = await started({ jetstream: false, extraConfig: 'max_payload: 2097152' });
    const nc = await connect({ servers: server.url });
    try {
      expect(nc.info?.max_payload).toBe(2097152);
      expect(nc.info?.jetstream ?? false).toBe(false);
    } finally {
      await nc.close();
    }
  });

  it('refuses restart() after stop()', async () => {
    const server = await startNats();
    await server.stop();
    await expect(server.restart()).rejects.toMatchObject({ code: 'SLUICE_TESTING_NATS_STOPPED' });
  });
});

describe('startNats on a taken port', () => {
  it('fails with the server output when a fixed port stays taken', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const error = await startNats({ port, jetstream: false }).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toMatchObject({ code: 'SLUICE_TESTING_NATS_START_FAILED' });
      expect((error as Error).message).toMatch(/address already in use/);
    } finally {
      blocker.close();
    }
  });
});
