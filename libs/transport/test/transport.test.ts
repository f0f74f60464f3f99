import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startNats, type NatsServerHandle } from '@sluice/testing';
import { createByteTransport, type ByteTransport, type TunnelSession } from '../src/index.ts';

const logger = pino({ level: 'silent' });

/** Reads to the end without destroying the session (an async iterator would, before our FIN). */
function collect(s: TunnelSession): Promise<Buffer> {
  const parts: Buffer[] = [];
  return new Promise((resolve, reject) => {
    s.on('data', (c: Buffer) => parts.push(c));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

for (const kind of ['core', 'jetstream'] as const) {
  describe(`byte transport: ${kind}`, () => {
    let nats: NatsServerHandle;
    let ncEdge: NatsConnection;
    let ncAgent: NatsConnection;
    let edge: ByteTransport;
    let agent: ByteTransport;

    beforeAll(async () => {
      nats = await startNats();
      ncEdge = await connect({ servers: nats.url });
      ncAgent = await connect({ servers: nats.url });
      edge = createByteTransport(kind, { role: 'edge', edgeId: 'e1' }, { nc: ncEdge, logger });
      agent = createByteTransport(kind, { role: 'agent', agentId: 'a1' }, { nc: ncAgent, logger }, { windowBytes: 256 * 1024 });
      await edge.start();
      await agent.start();
    });
    afterAll(async () => {
      await edge.stop();
      await agent.stop();
      await ncEdge.close();
      await ncAgent.close();
      await nats.stop();
    });

    it('carries bytes both ways in order, with half-close', async () => {
      const up = randomBytes(3 * 1024 * 1024 + 17);
      const down = randomBytes(1024 * 1024 + 3);
      const e = edge.openAtEdge('a1', 'c1');
      e.end(up); // bytes sent before the agent side exists are held for it
      await new Promise((r) => setTimeout(r, 50));
      const a = agent.acceptAtAgent('e1', 'c1');
      const [gotUp, gotDown] = await Promise.all([collect(a), collect(e), Promise.resolve(a.end(down))]);
      expect(createHash('sha256').update(gotUp).digest('hex')).toBe(createHash('sha256').update(up).digest('hex'));
      expect(gotDown.equals(down)).toBe(true);
    });

    it('a slow reader holds the writer to the window (flow control)', async () => {
      const e = edge.openAtEdge('a1', 'c2');
      const a = agent.acceptAtAgent('e1', 'c2');
      a.pause();
      let written = 0;
      const chunk = Buffer.alloc(64 * 1024, 7);
      // write until the session says stop; with a 4 MiB default window the edge must block
      while (e.write(chunk)) written += chunk.length;
      for (let i = 0; i < 200; i++) {
        await new Promise((r) => setTimeout(r, 5));
        if (!e.writableNeedDrain) {
          while (e.write(chunk)) written += chunk.length;
        }
      }
      expect(written).toBeLessThan(6 * 1024 * 1024);
      expect(a.readableLength).toBeLessThanOrEqual(4 * 1024 * 1024 + 64 * 1024);
      e.destroy();
      a.destroy();
    });

    it('an abort on one side closes the other promptly', async () => {
      const e = edge.openAtEdge('a1', 'c3');
      const a = agent.acceptAtAgent('e1', 'c3');
      e.write('hello');
      const closed = new Promise<Error | undefined>((r) => a.once('close', () => r(a.errored ?? undefined)));
      a.on('error', () => undefined);
      e.on('error', () => undefined);
      e.destroy(new Error('client went away'));
      const err = await closed;
      expect(err?.message).toMatch(/reset/);
    });
  });
}
