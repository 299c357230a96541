import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { planTopology } from '../../src/topology/plan.js';
import { uniqueName } from '../helpers/broker.js';
import { useHarness } from '../helpers/warren.js';
import { ascii, route, twoByte, useValidator } from './limits.js';

/**
 * Names (queues, exchanges, routes, and the ones Warren derives) that the broker would refuse
 * later are refused when the route file is validated, at its file:line:col; the edge values just
 * inside each limit are accepted, and the broker itself is asked where its own rule is the limit.
 */

const { validate, issues } = useValidator();

describe('names are counted in UTF-8 bytes', () => {
  const places = [
    { where: 'a queue under queues:', file: (n: string) => `queues:\n  "${n}": { type: classic }\n` },
    { where: 'an exchange under exchanges:', file: (n: string) => `exchanges:\n  "${n}": { type: topic }\n` },
    {
      where: 'a route name',
      file: (n: string) =>
        `routes:\n  "${n}":\n    from: { queue: q }\n    to: { webhook: { url: "http://h/" } }\n    retry: { attempts: 1 }\n`,
    },
    {
      where: 'a source queue (without retries)',
      file: (n: string) =>
        route(['retry: { attempts: 1 }', 'deadLetter: { queue: q.dlq }']).replace(
          'queue: q }',
          `queue: "${n}" }`,
        ),
    },
    { where: 'a dead-letter queue', file: (n: string) => route([`deadLetter: { queue: "${n}" }`]) },
    {
      where: 'a binding source',
      file: (n: string) =>
        route([]).replace('queue: q }', `queue: q, bind: [{ exchange: "${n}", key: "a" }] }`),
    },
    {
      where: 'a republish target',
      file: (n: string) => route([], `to: { republish: { exchange: "${n}" } }`),
    },
  ];

  it.each(places)('accepts exactly 255 bytes in $where, and 255 bytes of two-byte characters', ({ file }) => {
    expect(issues(file(ascii(255)))).toEqual([]);
    expect(issues(file(`${twoByte(127)}n`))).toEqual([]);
  });

  it.each(places)('refuses 256 bytes in $where, even as 128 characters', ({ file }) => {
    for (const name of [ascii(256), twoByte(128)]) {
      const found = issues(file(name));
      expect(found).toHaveLength(1);
      expect(found[0]).toMatch(
        /^r\.yaml:\d+:\d+ name is 256 bytes long in UTF-8; RabbitMQ allows at most 255/,
      );
    }
  });

  it('refuses a route named . or .., which no URL path of the admin API or the status page can name', () => {
    const file = (n: string) =>
      `routes:\n  "${n}":\n    from: { queue: q }\n    to: { webhook: { url: "http://h/" } }\n`;
    for (const name of ['.', '..']) {
      const found = issues(file(name));
      expect(found, name).toHaveLength(1);
      expect(found[0]).toContain('a URL path');
    }
    expect(issues(file('...'))).toEqual([]);
    expect(issues(file('.orders'))).toEqual([]);
  });

  it('refuses a binding key or a header key of 256 bytes (AMQP short strings)', () => {
    const key = issues(
      route([]).replace('queue: q }', `queue: q, bind: [{ exchange: x, key: "${ascii(256)}" }] }`),
    );
    const header = issues(route([], `to: { republish: { exchange: x, headers: { "${ascii(256)}": 1 } } }`));
    const argument = issues(`queues:\n  q2:\n    arguments: { "${ascii(256)}": 1 }\n`);
    for (const found of [key, header, argument]) {
      expect(found).toHaveLength(1);
      expect(found[0]).toContain('is 256 bytes long in UTF-8');
    }
  });

  it('refuses a republish routing key whose literal part passes 255 bytes', () => {
    expect(issues(route([], `to: { republish: { exchange: x, routingKey: "${ascii(255)}" } }`))).toEqual([]);
    expect(
      issues(route([], `to: { republish: { exchange: x, routingKey: "{{routingKey}}${ascii(255)}" } }`)),
    ).toEqual([]);
    expect(
      issues(route([], `to: { republish: { exchange: x, routingKey: "a{{routingKey}}${ascii(255)}" } }`)),
    ).toEqual([
      'r.yaml:4:49 routing key is at least 256 bytes long in UTF-8; RabbitMQ allows at most 255 (at /routes/r/to/republish/routingKey)',
    ]);
  });
});

describe('names Warren derives', () => {
  /** `warren.retry.` (13) + queue + `.1500ms` (7). */
  const withTier = (queue: string) =>
    route(['retry: { attempts: 2, backoff: [1500ms] }', 'deadLetter: { queue: q.dlq }']).replace(
      'queue: q }',
      `queue: "${queue}" }`,
    );
  const withDlq = (queue: string) =>
    route(['retry: { attempts: 1 }']).replace('queue: q }', `queue: "${queue}" }`);

  it('accepts a source queue whose longest delay tier is exactly 255 bytes, and plans that name', () => {
    const result = validate(withTier(ascii(255 - 13 - 7)));
    expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([]);
    const plan = result.ok ? planTopology(result.config) : undefined;
    const longest = Math.max(...(plan?.routes[0]?.queues ?? []).map((q) => Buffer.byteLength(q.name)));
    expect(longest).toBe(255);
  });

  it('refuses a source queue whose delay tier would be 256 bytes, at the queue, without repeating it', () => {
    const queue = ascii(255 - 13 - 7 + 1);
    const found = issues(withTier(queue));
    expect(found).toEqual([
      'r.yaml:3:20 with this queue name the delay-tier queue `warren.retry.<queue>.1500ms` Warren declares would be 256 bytes long in UTF-8; RabbitMQ allows at most 255: shorten the queue name (at /routes/r/from/queue)',
    ]);
    expect(found[0]).not.toContain(queue);
  });

  it('checks the longest tier of the backoff list, not the first', () => {
    const queue = ascii(255 - 13 - 3 + 1); // `.1s` fits; `.1500ms` does not
    const found = issues(
      route(['retry: { attempts: 3, backoff: [1s, 1500ms] }', 'deadLetter: { queue: q.dlq }']).replace(
        'queue: q }',
        `queue: "${queue}" }`,
      ),
    );
    expect(found).toHaveLength(1);
    expect(found[0]).toContain('`warren.retry.<queue>.1500ms`');
  });

  it('refuses a default dead-letter queue `<queue>.dlq` of 256 bytes, and accepts 255 or an explicit one', () => {
    expect(issues(withDlq(ascii(251)))).toEqual([]);
    expect(issues(withDlq(ascii(252)))).toEqual([
      'r.yaml:3:20 with this queue name the dead-letter queue `<queue>.dlq` Warren declares would be 256 bytes long in UTF-8; RabbitMQ allows at most 255: shorten the queue name or set deadLetter.queue (at /routes/r/from/queue)',
    ]);
    expect(
      issues(
        route(['retry: { attempts: 1 }', 'deadLetter: { queue: short.dlq }']).replace(
          'queue: q }',
          `queue: "${ascii(255)}" }`,
        ),
      ),
    ).toEqual([]);
  });

  it('does not count delay tiers for a route that never retries', () => {
    expect(
      issues(
        route(['retry: { attempts: 1, backoff: [1500ms] }', 'deadLetter: { queue: q.dlq }']).replace(
          'queue: q }',
          `queue: "${ascii(255)}" }`,
        ),
      ),
    ).toEqual([]);
  });
});

describe('control characters and reserved names', () => {
  it.each([
    ['a tab', '"a\\tb"', 'U+0009'],
    ['a NUL', '"a\\0b"', 'U+0000'],
    ['an escape', '"a\\eb"', 'U+001B'],
    ['a DEL', '"a\\x7fb"', 'U+007F'],
    ['a line feed', '"a\\nb"', 'U+000A'],
  ])('refuses %s in a queue name, a route name and an exchange name', (_what, yaml, code) => {
    const message = `name contains the control character ${code}; names must not`;
    expect(issues(route([]).replace('queue: q }', `queue: ${yaml} }`))[0]).toContain(message);
    expect(issues(`exchanges:\n  ${yaml}: { type: topic }\n`)[0]).toContain(message);
    expect(issues(route([]).replace('  r:', `  ${yaml}:`))[0]).toContain(message);
  });

  it.each([
    ['an exchange under exchanges:', 'exchanges:\n  amq.mine: { type: topic }\n', '/exchanges/amq.mine'],
    ['a queue under queues:', 'queues:\n  amq.q: {}\n', '/queues/amq.q'],
    ['a source queue', route([]).replace('queue: q }', 'queue: amq.q }'), '/routes/r/from/queue'],
    ['a dead-letter queue', route(['deadLetter: { queue: amq.dlq }']), '/routes/r/deadLetter/queue'],
  ])('refuses `amq.` for %s', (_what, text, pointer) => {
    const result = validate(text);
    const found = result.ok ? [] : result.issues;
    expect(found.map((i) => i.pointer)).toEqual([pointer]);
    expect(found[0]!.message).toContain('starts with `amq.`, which RabbitMQ reserves');
  });

  it('still allows binding from, republishing to and falling back to the built-in amq.* exchanges', () => {
    const text = [
      'exchanges:',
      '  orders: { type: topic, alternateExchange: amq.fanout, bind: [{ exchange: amq.topic, key: "x.#" }] }',
      'routes:',
      '  r:',
      '    from: { queue: q, bind: [{ exchange: amq.topic, key: "orders.#" }, { exchange: amq.headers, headers: { a: 1 } }] }',
      '    to: { republish: { exchange: amq.direct, routingKey: out } }',
      '',
    ].join('\n');
    expect(issues(text)).toEqual([]);
  });
});

describe('what the broker itself refuses', () => {
  const h = useHarness('all');

  async function onThrowawayChannel(
    work: (ch: Awaited<ReturnType<typeof h.broker.connection.createChannel>>) => Promise<unknown>,
  ) {
    const ch = await h.broker.connection.createChannel();
    ch.on('error', () => {});
    try {
      await work(ch);
      return 'ok';
    } catch (err) {
      return (err as Error).message;
    } finally {
      await ch.close().catch(() => {});
    }
  }

  it('refuses to declare amq.* queues and exchanges, and lets a queue bind from amq.topic', async () => {
    const queue = uniqueName('limits');
    expect(await onThrowawayChannel((ch) => ch.assertQueue(`amq.${queue}`))).toMatch(/ACCESS_REFUSED/);
    expect(await onThrowawayChannel((ch) => ch.assertExchange(`amq.${queue}`, 'topic'))).toMatch(
      /ACCESS_REFUSED/,
    );
    expect(
      await onThrowawayChannel(async (ch) => {
        await ch.assertQueue(queue, { durable: false, autoDelete: true });
        await ch.bindQueue(queue, 'amq.topic', 'x.#');
        await ch.deleteQueue(queue);
      }),
    ).toBe('ok');
  });

  it('cannot carry a 256-byte queue name, and carries a 255-byte one', async () => {
    const base = uniqueName('limits');
    const name255 = base + 'ä'.repeat((255 - base.length) >> 1) + ((255 - base.length) % 2 ? 'n' : '');
    expect(Buffer.byteLength(name255)).toBe(255);
    expect(
      await onThrowawayChannel(async (ch) => {
        await ch.assertQueue(name255, { durable: false, autoDelete: true });
        await ch.deleteQueue(name255);
      }),
    ).toBe('ok');
    expect(await onThrowawayChannel((ch) => ch.assertQueue(`${name255}n`, { durable: false }))).not.toBe(
      'ok',
    );
  });
});
