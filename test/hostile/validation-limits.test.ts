import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDuration } from '../../src/config/duration.js';
import { parseRouteFile } from '../../src/config/load.js';
import { limits } from '../../src/config/types.js';
import { formatIssue, type ValidationResult, validateLoaded } from '../../src/config/validate.js';
import { planTopology } from '../../src/topology/plan.js';
import { uniqueName } from '../helpers/broker.js';
import { useHarness } from '../helpers/warren.js';

/**
 * What the broker or the runtime would refuse later is refused when the route file is validated,
 * at its file:line:col, naming the rule; the edge values just inside each limit are accepted.
 */

let plugins: string;
beforeAll(async () => {
  plugins = await mkdtemp(join(tmpdir(), 'warren-limits-plugins-'));
  await writeFile(join(plugins, 'ok.js'), 'export default (m) => m;\n');
});
afterAll(async () => {
  await rm(plugins, { recursive: true, force: true });
});

function validate(text: string): ValidationResult {
  return validateLoaded({ ...parseRouteFile('r.yaml', text), version: 'test' }, {}, plugins);
}

function issues(text: string): string[] {
  const result = validate(text);
  return result.ok ? [] : result.issues.map(formatIssue);
}

/** One route `r` on queue `q`; `lines` are added under it (4-space indent), `to` replaces the webhook. */
function route(lines: string[] = [], to = 'to: { webhook: { url: "http://hooks.internal/x" } }'): string {
  return ['routes:', '  r:', '    from: { queue: q }', `    ${to}`, ...lines.map((l) => `    ${l}`), ''].join(
    '\n',
  );
}

const ascii = (bytes: number) => 'n'.repeat(bytes);
/** `ä` is 2 bytes in UTF-8: 128 of them are 128 characters but 256 bytes. */
const twoByte = (chars: number) => 'ä'.repeat(chars);

describe('webhook URLs', () => {
  it.each([
    ['http://', 'r.yaml:4:27 names no host: write http://host[:port]/path'],
    ['http:///path', 'r.yaml:4:27 names no host'],
    ['https://h:99999/', 'r.yaml:4:27 has port 99999; a port is 1 to 65535'],
    ['http://h:0/', 'r.yaml:4:27 has port 0; a port is 1 to 65535'],
    ['ftp://h/', 'r.yaml:4:27 must be an absolute http:// or https:// URL'],
    ['hooks.internal/x', 'r.yaml:4:27 must be an absolute http:// or https:// URL'],
    ['http://%zz@h/', 'r.yaml:4:27 has credentials with a broken %-escape'],
  ])('refuses %j at the url', (url, expected) => {
    const found = issues(route([], `to: { webhook: { url: "${url}" } }`));
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(expected);
    expect(found[0]).toContain('(at /routes/r/to/webhook/url)');
  });

  it.each(['http://h:1/', 'https://h:65535/x?y=1', 'http://[::1]:8080/hook', 'http://user:p%40ss@h/'])(
    'accepts %j',
    (url) => {
      expect(issues(route([], `to: { webhook: { url: "${url}" } }`))).toEqual([]);
    },
  );
});

/** Each bounded duration key, as the line that sets it in `route()`. */
const durationKeys = [
  {
    key: 'webhook timeout',
    range: limits.webhookTimeout,
    file: (d: string) => route([], `to: { webhook: { url: "http://h/", timeout: ${d} } }`),
    pointer: '/routes/r/to/webhook/timeout',
  },
  {
    key: 'plugin timeout',
    range: limits.pluginTimeout,
    file: (d: string) => route([], `to: { plugin: { file: ok.js, timeout: ${d} } }`),
    pointer: '/routes/r/to/plugin/timeout',
  },
  {
    key: 'transform timeout',
    range: limits.pluginTimeout,
    file: (d: string) => route([`transform: { file: ok.js, timeout: ${d} }`]),
    pointer: '/routes/r/transform/timeout',
  },
  {
    key: 'retry backoff',
    range: limits.backoff,
    file: (d: string) => route([`retry: { attempts: 3, backoff: [1s, ${d}] }`]),
    pointer: '/routes/r/retry/backoff/1',
  },
  {
    key: 'rateLimit per',
    range: limits.ratePer,
    file: (d: string) => route([`rateLimit: { rate: 5, per: ${d} }`]),
    pointer: '/routes/r/rateLimit/per',
  },
  {
    key: 'circuit window',
    range: limits.circuitWindow,
    file: (d: string) => route([], `to: { webhook: { url: "http://h/", circuit: { window: ${d} } } }`),
    pointer: '/routes/r/to/webhook/circuit/window',
  },
  {
    key: 'circuit cooldown',
    range: limits.circuitCooldown,
    file: (d: string) => route([], `to: { webhook: { url: "http://h/", circuit: { cooldown: ${d} } } }`),
    pointer: '/routes/r/to/webhook/circuit/cooldown',
  },
];

describe('durations', () => {
  const refused = durationKeys.flatMap((k) => [
    ...(k.range.minMs > 0
      ? [
          { ...k, value: `${k.range.minMs - 1}ms` },
          { ...k, value: '0' },
        ]
      : []),
    { ...k, value: `${k.range.maxMs + 1}ms` },
    { ...k, value: '1000h' },
  ]);
  it.each(refused)('refuses $key $value, naming the range at the key', ({ file, value, range, pointer }) => {
    const result = validate(file(value));
    expect(result.ok).toBe(false);
    const found = result.ok ? [] : result.issues;
    expect(found.map((i) => [i.pointer, i.message])).toEqual([
      [pointer, `must be from ${formatDuration(range.minMs)} to ${formatDuration(range.maxMs)}`],
    ]);
    expect(found[0]!.line).toBeGreaterThan(0);
  });

  const accepted = durationKeys.flatMap((k) => [
    { ...k, value: formatDuration(k.range.minMs) },
    { ...k, value: String(k.range.maxMs) },
    { ...k, value: formatDuration(k.range.maxMs) },
  ]);
  it.each(accepted)('accepts $key $value, the edge of its range', ({ file, value }) => {
    expect(issues(file(value))).toEqual([]);
  });

  it('refuses `timeout: 0ms` for a plugin, which would have run it without a time limit', () => {
    expect(issues(route([], 'to: { plugin: { file: ok.js, timeout: 0ms } }'))).toEqual([
      'r.yaml:4:43 must be from 1ms to 10s (at /routes/r/to/plugin/timeout)',
    ]);
  });

  it('keeps every accepted duration within what Node timers carry (2^31-1 ms)', () => {
    for (const k of durationKeys) expect(k.range.maxMs).toBeLessThanOrEqual(2 ** 31 - 1);
  });
});

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

describe('webhook headers', () => {
  const withHeaders = (headers: string) =>
    route([], `to: { webhook: { url: "http://h/", headers: { ${headers} } } }`);

  it.each([
    ['"bad header": x', 'header is not an HTTP header name', '/headers/bad header'],
    ['"x-a:b": x', 'header is not an HTTP header name', '/headers/x-a:b'],
    ['"": x', 'header is not an HTTP header name', '/headers/'],
    ['"x-ü": x', 'header is not an HTTP header name', '/headers/x-ü'],
    ['x-a: "v\\r\\nx-injected: 1"', 'header value contains a line break (CR or LF)', '/headers/x-a'],
    ['x-a: "v\\nw"', 'header value contains a line break (CR or LF)', '/headers/x-a'],
    ['x-a: "v\\0w"', 'header value contains a control character', '/headers/x-a'],
    ['x-a: "Київ"', 'header value contains a character beyond Latin-1', '/headers/x-a'],
  ])('refuses %s', (headers, message, at) => {
    const result = validate(withHeaders(headers));
    const found = result.ok ? [] : result.issues;
    expect(found.map((i) => [i.pointer, i.message.slice(0, message.length)])).toEqual([
      [`/routes/r/to/webhook${at}`, message],
    ]);
  });

  it('does not repeat a refused header value in the message', () => {
    const found = issues(withHeaders('authorization: "Bearer s3cr3t\\r\\n"'));
    expect(found).toHaveLength(1);
    expect(found[0]).not.toContain('s3cr3t');
  });

  it("accepts tokens with !#$%&'*+-.^_`|~ and Latin-1 values with tabs", () => {
    expect(issues(withHeaders('"x-a!#$%&\'*+-.^_`|~1": "Zürich\\tvalue"'))).toEqual([]);
  });
});

describe('numbers AMQP carries in 16 bits', () => {
  it.each(['prefetch', 'concurrency', 'deliveryLimit'])('accepts %s 65535 and refuses 65536', (key) => {
    expect(issues(route([`${key}: 65535`]).replace('prefetch: 65535', 'prefetch: 65535'))).toEqual([]);
    expect(issues(route([`${key}: 65536`]))).toEqual([
      `r.yaml:5:${key.length + 7} must be <= 65535 (at /routes/r/${key})`,
    ]);
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
