import { describe, expect, it } from 'vitest';
import { NodeRotation, shuffled } from '../../src/amqp/session.js';
import { nodeName, parseAmqpUrl, parseAmqpUrls, redactUrl } from '../../src/amqp/url.js';

/** A random that replays the given values, for a known shuffle. */
const replay = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};

describe('the node list', () => {
  it('is shuffled by the injected random (Fisher–Yates), without losing or repeating a node', () => {
    // 0.99 keeps each element in place, 0 swaps it with the first.
    expect(shuffled(['a', 'b', 'c'], replay(0.99))).toEqual(['a', 'b', 'c']);
    expect(shuffled(['a', 'b', 'c'], replay(0, 0))).toEqual(['b', 'c', 'a']);
    for (let seed = 0; seed < 50; seed++) {
      const out = shuffled(['a', 'b', 'c', 'd'], Math.random);
      expect([...out].sort()).toEqual(['a', 'b', 'c', 'd']);
    }
  });

  it('spreads replicas: each node comes first for some of them', () => {
    const firsts = new Set<string>();
    for (let i = 0; i < 200; i++) firsts.add(new NodeRotation(['n1', 'n2', 'n3']).current);
    expect([...firsts].sort()).toEqual(['n1', 'n2', 'n3']);
  });

  it('names a node host:port, with the default port of its scheme and never its password', () => {
    const [a, b, c] = parseAmqpUrls('amqp://u:s3cret@node1:5681,amqps://u:p,w@node2,amqp://[::1]/v');
    expect([nodeName(a!), nodeName(b!), nodeName(c!)]).toEqual(['node1:5681', 'node2:5671', '[::1]:5672']);
    expect(redactUrl('amqp://u:s3cret@node1:5681,amqps://u:p,w@node2')).toBe(
      'amqp://u:***@node1:5681,amqps://u:***@node2',
    );
    expect(nodeName(parseAmqpUrl('amqp://h'))).toBe('h:5672');
  });
});

describe('node rotation', () => {
  const inOrder = () => new NodeRotation(['a', 'b', 'c'], replay(0.99));

  it('moves to the next node at once, and asks for a backoff only after a whole round failed', () => {
    const nodes = inOrder();
    const seen = [nodes.current];
    const backoffs: boolean[] = [];
    for (let i = 0; i < 6; i++) {
      backoffs.push(nodes.failed());
      seen.push(nodes.current);
    }
    expect(seen).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
    expect(backoffs).toEqual([false, false, true, false, false, true]);
  });

  it('after losing a node, tries the others first and the lost one last in the round', () => {
    const nodes = inOrder();
    nodes.failed(); // a refused: b
    nodes.succeeded();
    nodes.lost(); // b lost: c
    expect(nodes.current).toBe('c');
    expect(nodes.failed()).toBe(false); // c refused: a
    expect(nodes.current).toBe('a');
    expect(nodes.failed()).toBe(false); // a refused: b, the lost one
    expect(nodes.current).toBe('b');
    expect(nodes.failed()).toBe(true); // b refused too: the round is over
  });

  it('a success starts a new round', () => {
    const nodes = inOrder();
    nodes.failed();
    nodes.failed();
    nodes.succeeded(); // c answered
    expect(nodes.current).toBe('c');
    expect(nodes.failed()).toBe(false);
    expect(nodes.failed()).toBe(false);
    expect(nodes.failed()).toBe(true);
  });

  it('with one node, every failure is a round: the backoff of a single broker, as before', () => {
    const nodes = new NodeRotation(['only']);
    expect([nodes.failed(), nodes.failed()]).toEqual([true, true]);
    nodes.lost();
    expect(nodes.current).toBe('only');
  });
});
