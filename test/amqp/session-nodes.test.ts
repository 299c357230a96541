import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerSession } from '../../src/amqp/session.js';
import { amqpUrl, waitFor } from '../helpers/broker.js';
import { closedPort } from '../helpers/receiver.js';
import { memoryLogger } from '../helpers/warren.js';

/** 0.99 keeps the list in the order written (Fisher–Yates never swaps). */
const inOrder = () => 0.99;

describe('BrokerSession over a list of nodes', () => {
  let session: BrokerSession | undefined;
  afterEach(async () => {
    await session?.stop();
    session = undefined;
  });

  it('skips a refusing node at once, without the backoff, and says which node it uses', async () => {
    const dead = await closedPort();
    const { log, lines } = memoryLogger();
    // A backoff far longer than the test: reaching the second node must not wait for it.
    session = new BrokerSession(
      `amqp://guest:guest@127.0.0.1:${dead},${amqpUrl}`,
      log,
      { initialMs: 60_000, maxMs: 60_000 },
      { random: inOrder },
    );
    const up = once(session, 'up');
    session.start();
    await up;
    expect(session.node).toBe(`127.0.0.1:${new URL(amqpUrl).port || 5672}`);
    expect(lines.find((l) => l.event === 'amqp_next_node')).toMatchObject({ node: `127.0.0.1:${dead}` });
    expect(lines.some((l) => l.event === 'amqp_unreachable')).toBe(false);
    // The first connection of a process is no failover.
    expect(lines.some((l) => l.event === 'amqp_failover')).toBe(false);
  });

  it('with every node refusing, says so once per outage, after a whole round, and backs off', async () => {
    const [a, b] = [await closedPort(), await closedPort()];
    const { log, lines } = memoryLogger();
    session = new BrokerSession(
      `amqp://guest:secret-9@127.0.0.1:${a},amqp://guest:secret-9@127.0.0.1:${b}`,
      log,
      { initialMs: 100, maxMs: 200 },
      { random: inOrder },
    );
    session.start();
    await waitFor('three rounds', () => lines.filter((l) => l.event === 'amqp_reconnect').length >= 3);
    const unreachable = lines.filter((l) => l.event === 'amqp_unreachable');
    expect(unreachable).toHaveLength(1);
    expect(unreachable[0]!.url).toBe(`amqp://guest:***@127.0.0.1:${a},amqp://guest:***@127.0.0.1:${b}`);
    // Within a round the next node is tried at once; each round ends in one backoff.
    const steps = lines.filter((l) => l.event === 'amqp_next_node' || l.event === 'amqp_reconnect');
    expect(steps.slice(0, 4).map((l) => l.event)).toEqual([
      'amqp_next_node',
      'amqp_reconnect',
      'amqp_next_node',
      'amqp_reconnect',
    ]);
    expect(JSON.stringify(lines)).not.toContain('secret-9');
    expect(session.node).toBeUndefined();
  });
});
