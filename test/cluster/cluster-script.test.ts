import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName } from '../helpers/broker.js';
import { repoRoot } from '../helpers/cli.js';

const run = promisify(execFile);
const script = `${repoRoot}/scripts/rabbitmq-cluster`;

/**
 * `scripts/rabbitmq-cluster` starts three RabbitMQ nodes beside the default broker and clusters
 * them: the ground the cluster tests stand on. A quorum queue declared through one node holds what
 * was published there when read through another, and the default broker is left alone.
 */
describe('scripts/rabbitmq-cluster', () => {
  beforeAll(async () => {
    await run(script, ['start'], { timeout: 150_000 });
  }, 160_000);

  afterAll(async () => {
    await run(script, ['stop'], { timeout: 60_000 });
  }, 70_000);

  it('joins three running nodes into one cluster', async () => {
    const { stdout } = await run('rabbitmqctl', [
      '-q',
      '-n',
      'warren-c1@localhost',
      'cluster_status',
      '--formatter',
      'json',
    ]);
    const status = JSON.parse(stdout) as { running_nodes: string[]; disk_nodes: string[] };
    const names = ['warren-c1@localhost', 'warren-c2@localhost', 'warren-c3@localhost'];
    expect([...status.running_nodes].sort()).toEqual(names);
    expect([...status.disk_nodes].sort()).toEqual(names);
    const own = await run('rabbitmqctl', [
      '-q',
      '-n',
      'rabbit@localhost',
      'cluster_status',
      '--formatter',
      'json',
    ]);
    expect((JSON.parse(own.stdout) as { running_nodes: string[] }).running_nodes).toEqual([
      'rabbit@localhost',
    ]);
  });

  it('replicates a quorum queue: published through the first node, read through the third', async () => {
    const urls = (await run(script, ['urls'])).stdout.trim().split(',');
    expect(urls).toEqual([
      'amqp://guest:guest@127.0.0.1:5681',
      'amqp://guest:guest@127.0.0.1:5682',
      'amqp://guest:guest@127.0.0.1:5683',
    ]);
    const queue = uniqueName('cluster');
    const first = await amqp.connect(urls[0]!);
    const third = await amqp.connect(urls[2]!);
    try {
      const publish = await first.createConfirmChannel();
      await publish.assertQueue(queue, { arguments: { 'x-queue-type': 'quorum' } });
      for (let i = 0; i < 10; i++) publish.sendToQueue(queue, Buffer.from(String(i)), { persistent: true });
      await publish.waitForConfirms();
      const read = await third.createChannel();
      const got: string[] = [];
      for (let message = await read.get(queue); message; message = await read.get(queue)) {
        got.push(message.content.toString());
        read.ack(message);
      }
      expect(got).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      await read.deleteQueue(queue);
    } finally {
      await first.close();
      await third.close();
    }
  });
});
