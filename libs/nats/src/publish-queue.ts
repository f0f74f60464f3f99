import type { NatsConnection } from '@nats-io/transport-node';

/**
 * Hands publishes to the NATS client once per event-loop turn (setImmediate) instead of one by
 * one: measured +43% keep-alive req/s for a byte tunnel (design, "measured lessons").
 */
export class PublishQueue {
  private subjects: string[] = [];
  private payloads: Uint8Array[] = [];
  private scheduled = false;
  constructor(private readonly nc: NatsConnection) {}

  publish(subject: string, data: Uint8Array): void {
    this.subjects.push(subject);
    this.payloads.push(data);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  readonly flush = (): void => {
    this.scheduled = false;
    const s = this.subjects;
    const p = this.payloads;
    if (s.length === 0) return;
    this.subjects = [];
    this.payloads = [];
    if (this.nc.isClosed()) return;
    for (let i = 0; i < s.length; i++) this.nc.publish(s[i]!, p[i]!);
  };
}
