import { createSocket, type Socket } from 'node:dgram';
import dnsPacket from 'dns-packet';

export interface TestDnsRecord {
  type: 'A' | 'TXT' | 'CNAME';
  name: string;
  value: string;
}

/** A small authoritative DNS server on UDP loopback whose records a test changes while it runs. */
export interface TestDns {
  readonly port: number;
  /** `127.0.0.1:<port>`, for resolvers' server lists. */
  readonly server: string;
  set(record: TestDnsRecord): void;
  remove(name: string, type?: TestDnsRecord['type']): void;
  stop(): Promise<void>;
}

const norm = (n: string): string => n.toLowerCase().replace(/\.$/, '');

export async function startTestDns(initial: TestDnsRecord[] = []): Promise<TestDns> {
  const records: TestDnsRecord[] = [];
  const sock: Socket = createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    let q: dnsPacket.Packet;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const question = q.questions?.[0];
    if (!question) return;
    const name = norm(question.name);
    const answers = records
      .filter((r) => norm(r.name) === name && r.type === question.type)
      .map((r) => ({ type: r.type, name: r.name, ttl: 5, class: 'IN' as const, data: r.type === 'TXT' ? [Buffer.from(r.value)] : r.value }));
    const exists = records.some((r) => norm(r.name) === name);
    const reply = dnsPacket.encode({
      id: q.id,
      type: 'response',
      flags: dnsPacket.AUTHORITATIVE_ANSWER | (exists || answers.length > 0 ? 0 : 3), // rcode 3: NXDOMAIN
      questions: q.questions,
      answers: answers as dnsPacket.Answer[],
    });
    sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => resolve());
  });
  const port = sock.address().port;
  for (const r of initial) records.push(r);
  return {
    port,
    server: `127.0.0.1:${port}`,
    set(r) {
      records.push(r);
    },
    remove(name, type) {
      for (let i = records.length - 1; i >= 0; i--) if (norm(records[i]!.name) === norm(name) && (type === undefined || records[i]!.type === type)) records.splice(i, 1);
    },
    stop: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}
