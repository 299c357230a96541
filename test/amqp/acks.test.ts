import type { Channel, ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { AckBatch } from '../../src/amqp/acks.js';

/** Records the frames the batch sends; a unit test of the coalescing rule, not of the broker. */
function setup() {
  const frames: string[] = [];
  const channel = {
    ack: (msg: ConsumeMessage, multiple?: boolean) =>
      frames.push(`ack ${msg.fields.deliveryTag}${multiple ? ' multiple' : ''}`),
    nack: (msg: ConsumeMessage) => frames.push(`nack ${msg.fields.deliveryTag}`),
  } as unknown as Channel;
  const batch = new AckBatch(channel, (frame) => {
    frame();
    return true;
  });
  const msgs = Array.from({ length: 6 }, (_, i) => ({ fields: { deliveryTag: i + 1 } }) as ConsumeMessage);
  for (const m of msgs) batch.received(m);
  const reported: Array<[number, boolean]> = [];
  const ack = (i: number) => batch.ack(msgs[i]!, (ok) => reported.push([i + 1, ok]));
  return { batch, msgs, frames, reported, ack };
}

describe('coalesced acks', () => {
  it('acks a run of settled deliveries from the oldest with one multiple ack', () => {
    const { batch, frames, ack, reported } = setup();
    ack(0);
    ack(1);
    ack(2);
    batch.flush();
    expect(frames).toEqual(['ack 3 multiple']);
    expect(reported).toEqual([
      [1, true],
      [2, true],
      [3, true],
    ]);
  });

  it('never reaches over a delivery still running: those past it are acked one by one', () => {
    const { batch, frames, ack } = setup();
    ack(0);
    ack(2);
    ack(3);
    batch.flush();
    expect(frames).toEqual(['ack 1 multiple', 'ack 3', 'ack 4']);
    ack(1);
    batch.flush();
    expect(frames.slice(3)).toEqual(['ack 2 multiple']);
  });

  it('skips requeued deliveries, which the broker no longer holds', () => {
    const { batch, frames, ack, msgs } = setup();
    expect(batch.requeue(msgs[0]!)).toBe(true);
    ack(1);
    batch.flush();
    expect(frames).toEqual(['nack 1', 'ack 2 multiple']);
  });

  it('refuses a second ack of the same delivery', () => {
    const { batch, frames, ack, reported } = setup();
    ack(0);
    ack(0);
    batch.flush();
    expect(frames).toEqual(['ack 1 multiple']);
    expect(reported).toEqual([
      [1, false],
      [1, true],
    ]);
  });

  it('reports asked-for acks as not sent when the channel closes first', () => {
    const { batch, frames, ack, reported } = setup();
    ack(0);
    batch.discard();
    batch.flush();
    expect(frames).toEqual([]);
    expect(reported).toEqual([[1, false]]);
  });
});
