import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { connectOptions, parseAmqpUrl, redactUrl } from '../../src/amqp/url.js';
import { scrub } from '../../src/config/redact.js';
import { amqpUrl, uniqueName, waitFor } from '../helpers/broker.js';
import { type CliProcess, runCli } from '../helpers/cli.js';
import { startWarren, useHarness } from '../helpers/warren.js';

/**
 * Secrets never appear in any output (issue 9 §5): not in CLI text or JSON, the admin API, the
 * logs or a dead letter's annotations — whatever characters they hold, and when an interpolated
 * value is used as a name (a queue, a plugin file, a key) that an error has to talk about.
 */

/** Every awkward character at once: `+` (form space), `#` (fragment), `@`, `/`, `%`, a space. */
const hostile = (tag: string) => `${tag}+S3c#r@t/50%25 off`;

/** Each spelling a secret may take on its way out: as written, percent-encoded, form-decoded. */
function spellings(secret: string): string[] {
  const out = new Set([secret, encodeURIComponent(secret), encodeURIComponent(secret).replace(/%20/g, '+')]);
  for (const decode of [decodeURIComponent, (s: string) => decodeURIComponent(s.replace(/\+/g, ' '))]) {
    try {
      out.add(decode(secret));
    } catch {
      // not percent-encoded
    }
  }
  return [...out];
}

function expectNoSecret(where: string, text: string, secrets: readonly string[]): void {
  for (const secret of secrets) {
    for (const spelling of spellings(secret)) {
      expect(text.includes(spelling), `${where} contains ${JSON.stringify(spelling)}:\n${text}`).toBe(false);
    }
  }
}

async function finished(cli: CliProcess): Promise<{ code: number | null; out: string }> {
  const { code } = await cli.exited;
  return { code, out: `${cli.lines.map((l) => JSON.stringify(l)).join('\n')}\n${cli.stderr()}` };
}

describe('the one text scrubber and the one URL printer', () => {
  // Printable ASCII, the characters URLs and forms treat specially, and a space.
  const secretChar = fc.constantFrom(...'abcXYZ019+#@/%:?&=~ ,;!$\'"\\'.split(''));

  it('masks any password in an AMQP URL, raw or percent-encoded, in every element of a list', () => {
    const password = fc.string({ unit: secretChar, minLength: 6, maxLength: 24 });
    fc.assert(
      fc.property(password, password, (first, second) => {
        // A raw '%' followed by hex digits would be read as an escape: written raw, '%' is not.
        const raw = first.replace(/%/g, '');
        fc.pre(raw.length >= 6 && !raw.includes(',amqp'));
        const list = [
          `amqp://warren:${raw}@rabbit-a.internal:5672/orders`,
          `amqps://warren:${encodeURIComponent(second)}@rabbit-b.internal/`,
          `amqp://warren:${encodeURIComponent(first)}@[::1]:5673`,
        ].join(',');
        const shown = redactUrl(list);
        expect(shown).toBe(
          'amqp://warren:***@rabbit-a.internal:5672/orders,amqps://warren:***@rabbit-b.internal,' +
            'amqp://warren:***@[::1]:5673',
        );
        // And the parse is the broker's: the password reaches amqplib as it was meant.
        expect(connectOptions(parseAmqpUrl(list.split(',amqps://')[0]!)).password).toBe(raw);
        expect(parseAmqpUrl(`amqps://warren:${encodeURIComponent(second)}@h`).password).toBe(second);
      }),
      { seed: 42, numRuns: 500 },
    );
  });

  it('never prints an element it cannot parse, since its password could be anywhere', () => {
    for (const broken of [
      'amqp://user:pa55word',
      'amqp://u:pw-4433@host:99999',
      'amqp://:pw-4433@',
      'pw-4433',
    ]) {
      const shown = redactUrl(`amqp://guest:guest@ok,${broken}`);
      expect(shown).not.toMatch(/pa55word|pw-4433/);
      // Without a scheme the comma is no list separator: the whole text is one broken URL.
      expect(shown).toBe(broken === 'pw-4433' ? '<unparsable URL>' : 'amqp://guest:***@ok,<unparsable URL>');
    }
  });

  it('blanks a secret in text however it is spelled: raw, encoded, form-encoded or decoded', () => {
    const secret = fc.string({ unit: secretChar, minLength: 6, maxLength: 24 });
    fc.assert(
      fc.property(secret, fc.string({ maxLength: 20 }), (value, filler) => {
        const echoes = [
          value,
          encodeURIComponent(value),
          encodeURIComponent(value).replace(/%20/g, '+'),
          new URLSearchParams({ k: value }).toString().slice(2),
          encodeURI(value),
          JSON.stringify(value).slice(1, -1),
        ];
        const text = echoes.map((echo) => `${filler}[${echo}]${filler}`).join(' ');
        const out = scrub(text, [value]);
        for (const echo of echoes) expect(out.includes(echo), `${echo} in ${out}`).toBe(false);
        // A receiver that form-decodes the query sees '+' as a space: that spelling is blanked too.
        expect(scrub(`x${value.replace(/ /g, '+')}x`, [value])).toBe('x<redacted>x');
      }),
      { seed: 42, numRuns: 1000 },
    );
  });
});

describe('secrets used as names, in config errors', () => {
  const h = useHarness();
  const env = {
    QUEUE_SUFFIX: hostile('queue'),
    PLUGIN_NAME: hostile('plugin'),
    HEADER_KEY: hostile('header'),
    ROUTE_NAME: hostile('route'),
  };
  const secrets = Object.values(env);

  // Errors found while building the configuration: a queue used twice, a plugin that is not there.
  const buildErrors = `
queues:
  "dup-\${env:QUEUE_SUFFIX}": {}
routes:
  one:
    from: { queue: "orders-\${env:QUEUE_SUFFIX}" }
    to: { webhook: { url: "http://127.0.0.1:9/" } }
  two:
    from: { queue: "orders-\${env:QUEUE_SUFFIX}" }
    to: { webhook: { url: "http://127.0.0.1:9/" } }
  three:
    from: { queue: q3 }
    transform: "\${env:PLUGIN_NAME}.js"
    to: { webhook: { url: "http://127.0.0.1:9/" } }
`;
  const duplicate = `
queues:
  "dup-\${env:QUEUE_SUFFIX}": {}
`;
  // Errors of the schema: at a key that came from the environment.
  const schemaErrors = `
routes:
  "\${env:ROUTE_NAME}":
    from: { queue: q4 }
    to: { webhook: { url: "http://127.0.0.1:9/", retyr: 1, headers: { "x-\${env:HEADER_KEY}": 5 } } }
`;

  // Generous: ten CLI processes on a shared 2-core machine (the bound is no assertion).
  it('names the place, never the value, in validate and plan, as text and JSON, and in the run log', {
    timeout: 180_000,
  }, async () => {
    const build = await h.routesDir({ 'a.yaml': buildErrors, 'b.yaml': duplicate });
    const schema = await h.routesDir({ 'a.yaml': schemaErrors });
    // What each output must still say (only the value is blanked), whatever the format.
    const expected: Record<string, string[]> = {
      [build]: [
        'queue `orders-<redacted>` is already consumed',
        'plugin `<redacted>.js` not found',
        'queue `dup-<redacted>` is defined twice',
      ],
      [schema]: ['unknown key `retyr`', '/routes/<redacted>/to/webhook', 'headers/x-<redacted>'],
    };
    for (const [dir, messages] of Object.entries(expected)) {
      // Five CLI processes at once (the machine is small; sequential runs take a minute).
      await Promise.all(
        [
          ['validate', dir],
          ['validate', dir, '--format', 'json'],
          ['plan', dir],
          ['plan', dir, '--format', 'json'],
          ['run', '--routes', dir, '--admin-port', '0'],
        ].map(async (args) => {
          const { code, out } = await finished(runCli(args, { ...env, AMQP_URL: amqpUrl }));
          expect(code, `${args.join(' ')}: ${out}`).toBe(1);
          expectNoSecret(args.join(' '), out, secrets);
          for (const message of messages) expect(out, args.join(' ')).toContain(message);
          // Positioned: file:line:col (in JSON as fields).
          if (!args.includes('json')) expect(out).toMatch(/a\.yaml:\d+:\d+ /);
        }),
      );
    }
  });
});

describe('secrets at run time', () => {
  const h = useHarness();
  const adminToken = 'admin-token-7c1d55';
  const auth = { authorization: `Bearer ${adminToken}` };

  /** Everything the admin API shows, read with the token. */
  async function adminText(paths: string[]): Promise<string> {
    let text = '';
    for (const path of paths)
      text += `${path}: ${await (await h.warren!.admin.request(path, { headers: auth })).text()}\n`;
    return text;
  }

  /** Warren with one route `one` from `queue` (as YAML) to a webhook at `url`, with the admin token. */
  async function startOneRoute(queue: string, url: string, options: Parameters<typeof startWarren>[2] = {}) {
    const file = `routes:\n  one:\n    from: { queue: ${queue} }\n    to: { webhook: { url: "${url}" } }\n`;
    h.warren = await startWarren({ 'a.yaml': file }, h.broker, { adminToken, ...options });
  }

  it('blanks an interpolated name from the 422 reload answer, lastReload and the log', async () => {
    const env = { ...process.env, QUEUE_SUFFIX: hostile(uniqueName('q')), PLUGIN_NAME: hostile('plugin') };
    const queue = uniqueName('hostile-reload');
    const valid = `
routes:
  one:
    from: { queue: "${queue}-\${env:QUEUE_SUFFIX}" }
    to: { webhook: { url: "${h.receiver.url('/hook')}" } }
`;
    h.warren = await startWarren({ 'a.yaml': valid }, h.broker, { env, adminToken });
    // The same queue consumed twice, and a plugin file named by a secret: both errors must be told.
    await writeFile(
      join(h.warren.dir, 'b.yaml'),
      `
routes:
  two:
    from: { queue: "${queue}-\${env:QUEUE_SUFFIX}" }
    transform: "\${env:PLUGIN_NAME}.js"
    to: { webhook: { url: "${h.receiver.url('/hook')}" } }
  three:
    from: { queue: "${queue}-\${env:QUEUE_SUFFIX}" }
    to: { webhook: { url: "${h.receiver.url('/hook')}" } }
`,
    );
    const reload = await h.warren.admin.request('/api/reload', { method: 'POST', headers: auth });
    expect(reload.status).toBe(422);
    const answer = await reload.text();
    expect(answer).toContain('b.yaml:');
    expect(answer).toContain('already consumed');
    expect(answer).toContain('plugin `<redacted>.js` not found');
    const secrets = [env.QUEUE_SUFFIX, env.PLUGIN_NAME];
    expectNoSecret('the 422 answer', answer, secrets);
    const shown = await adminText([
      '/api/routes',
      '/api/routes/one',
      '/metrics',
      '/readyz',
      '/api/status',
      '/api/topology',
    ]);
    expect(shown).toContain('already consumed'); // lastReload says what went wrong
    expectNoSecret('the admin API', shown, secrets);
    expectNoSecret('the log', h.warren.logs.map((l) => JSON.stringify(l)).join('\n'), secrets);
  });

  it('blanks an interpolated queue name from the readiness reason of a failed route (/readyz, /api/status)', async () => {
    const env = { ...process.env, QUEUE_SUFFIX: hostile(uniqueName('q')) };
    const queue = `${uniqueName('hostile-ready')}-${env.QUEUE_SUFFIX}`;
    // The queue exists with other arguments: declaring it fails, and the broker's error names it.
    await h.broker.channel.assertQueue(queue, { durable: true, arguments: { 'x-max-length': 1 } });
    h.broker.track('queue', queue);
    await startOneRoute(
      `"${queue.slice(0, -env.QUEUE_SUFFIX.length)}\${env:QUEUE_SUFFIX}"`,
      h.receiver.url('/hook'),
      {
        env,
        waitForRoutes: false,
      },
    );
    const ready = await waitFor('the route to fail', async () => {
      const answer = await h.warren!.admin.request('/readyz');
      const text = await answer.text();
      return answer.status === 503 && text.includes('route one is failed') ? text : undefined;
    });
    expect(ready).toContain('PRECONDITION_FAILED');
    expectNoSecret('/readyz', ready, [env.QUEUE_SUFFIX]);
    expectNoSecret('the admin API', await adminText(['/api/status', '/api/routes']), [env.QUEUE_SUFFIX]);
  });

  it('masks the password and query values of a webhook URL written in the file, in /api/routes', async () => {
    const url = h.receiver.url('/hook').replace('http://', 'http://deploy:pw-9f3e1a@');
    await startOneRoute(`"${uniqueName('hostile-url')}"`, `${url}?sig=sig-77c2d0&v=2`);
    const shown = await adminText(['/api/routes', '/api/routes/one', '/api/topology']);
    expect(shown).toContain('http://deploy:<redacted>@127.0.0.1:');
    expect(shown).toContain('/hook?sig=<redacted>&v=<redacted>');
    expectNoSecret('the admin API', shown, ['pw-9f3e1a', 'sig-77c2d0']);
  });

  it('scrubs a query secret with + / % @ from an echoed URL: reason, DLQ annotation, log, API', async () => {
    // '#' cannot be in a query value (it starts the fragment) nor a space (not a URI), so they are in the token.
    const env = { ...process.env, HOOK_KEY: 'k3y+val/ue@50%25off+more', HOOK_TOKEN: hostile('token') };
    const exchange = uniqueName('hostile-x');
    const queue = uniqueName('hostile-q');
    // Echoes the URL as received, as the receiver decoded it, and the bearer token.
    h.receiver.responder = (req, n, res) => {
      const query = new URL(req.path, 'http://receiver').searchParams.get('key');
      res.statusCode = n === 0 ? 503 : 400;
      res.end(`no route for ${req.path}; key=${query}; token ${req.headers.authorization?.split(' ')[1]}`);
      return 'handled';
    };
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges:
  ${exchange}: { type: topic }
routes:
  hook:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    to:
      webhook:
        url: "${h.receiver.url('/hook')}?key=\${env:HOOK_KEY}&plain=1"
        headers: { authorization: "Bearer \${env:HOOK_TOKEN}" }
    retry: { attempts: 2, backoff: [100ms] }
`,
      },
      h.broker,
      { env, adminToken },
    );
    await h.broker.publish(exchange, 'order.created', '{"id":1}', { messageId: 'm-1' });
    await waitFor('the dead letter', async () => (await h.broker.depth(`${queue}.dlq`)) === 1);
    const wire = h.receiver.requests[0]!.path;
    expect(wire).toContain('k3y+val/ue@50%25'); // the receiver did get the secret
    const secrets = [
      env.HOOK_KEY,
      env.HOOK_TOKEN,
      wire.slice(wire.indexOf('key=') + 4, wire.indexOf('&plain')),
    ];
    const [dead] = await h.broker.drain(`${queue}.dlq`);
    const annotation = String(dead?.properties.headers?.['x-warren-error']);
    expect(annotation).toContain('HTTP 400');
    expect(annotation).toContain('no route for /hook?key=<redacted>');
    expectNoSecret('x-warren-error', annotation, secrets);
    const logged = h.warren.logs.map((l) => JSON.stringify(l)).join('\n');
    expect(logged).toContain('HTTP 503');
    expectNoSecret('the log', logged, secrets);
    expectNoSecret(
      'the admin API',
      await adminText(['/api/routes', '/api/routes/hook', '/metrics', '/api/status', '/api/topology']),
      secrets,
    );
  });

  it('masks an AMQP password holding # @ / % and a space, and every URL of a list, in the log', async () => {
    const password = 'pa#ss@w/rd%2 x';
    const routes = await h.routesDir({
      'r.yaml': `routes:\n  r:\n    from: { queue: ${uniqueName('hostile-amqp')} }\n    to: { webhook: { url: "http://127.0.0.1:9/" } }\n`,
    });
    const second = 'other-pw-31f7';
    const url = `amqp://guest:${password}@127.0.0.1:5672/%2F,amqp://guest:${second}@127.0.0.2:5672`;
    const cli = runCli(['run', '--routes', routes, '--admin-port', '0'], { AMQP_URL: url });
    try {
      // The broker refuses the login (wrong password): Warren says so with the URL masked.
      await waitFor('the unreachable line', () => cli.lines.some((l) => l.event === 'amqp_unreachable'));
    } finally {
      cli.child.kill('SIGKILL');
      await cli.exited;
    }
    const out = `${cli.lines.map((l) => JSON.stringify(l)).join('\n')}\n${cli.stderr()}`;
    expect(out).toContain('amqp://guest:***@127.0.0.1:5672/%2F,amqp://guest:***@127.0.0.2:5672');
    expect(out).toContain('ACCESS_REFUSED'); // the password got through to the broker whole
    // A broker that refuses the login is running: the hint says to check the credentials instead.
    expect(out).toContain('RabbitMQ refused the login: check the user, password and vhost');
    expect(out).not.toContain('is RabbitMQ running?');
    // No fragment of either password: not the part before '#', not the part after '@'.
    for (const piece of [password, 'pa#ss', 'ss@w', 'w/rd', second, ...spellings(password)]) {
      expect(out.includes(piece), piece).toBe(false);
    }
  });
});
