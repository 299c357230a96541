import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../src/config/duration.js';
import { limits } from '../../src/config/types.js';
import { route, useValidator } from './limits.js';

/**
 * What the broker or the runtime would refuse later is refused when the route file is validated,
 * at its file:line:col, naming the rule; the edge values just inside each limit are accepted.
 */

const { validate, issues } = useValidator();

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
