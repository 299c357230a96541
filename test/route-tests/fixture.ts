import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Output } from '../../src/cli/output.js';
import { testCommand } from '../../src/cli/test.js';
import { useTempDirs } from '../config/route-dir.js';

/** The `enveloped` route's Standard Webhooks key. */
export const signingSecret = `whsec_${Buffer.from('warren test signing key, 32 byte').toString('base64')}`;

/** Routes covering every target kind, the webhook body modes and the plugin return kinds. */
export const routesYaml = `
exchanges:
  shop: { type: topic }
  out: { type: topic }
routes:
  hook:
    from: { queue: t.hook, bind: [{ exchange: shop, key: "order.#" }] }
    to:
      webhook:
        url: http://127.0.0.1:9/hooks/orders
        method: PUT
        headers: { authorization: Bearer t0ken, x-warren-route: forged }
  copy:
    from: { queue: t.copy, bind: [{ exchange: shop, key: "#" }] }
    to: { republish: { exchange: out, routingKey: "copy.{{routingKey}}", headers: { origin: shop } } }
  shaped:
    from: { queue: t.shaped, bind: [{ exchange: shop, key: "#" }] }
    when: { headers: { test: { exists: false } } }
    transform: shape.js
    to: { webhook: { url: http://127.0.0.1:9/hooks/shaped } }
  split:
    from: { queue: t.split, bind: [{ exchange: shop, key: "#" }] }
    to: { plugin: { file: split.js } }
    retry: { attempts: 2, backoff: [1s] }
  enveloped:
    from: { queue: t.enveloped, bind: [{ exchange: shop, key: "#" }] }
    to:
      webhook:
        url: http://127.0.0.1:9/hooks/enveloped
        body: envelope
        sign: { secret: ${signingSecret} }
  evented:
    from: { queue: t.evented, bind: [{ exchange: shop, key: "#" }] }
    to: { webhook: { url: http://127.0.0.1:9/hooks/events, body: cloudevents, headers: { ce-source: /shop } } }
`;

export const plugins = {
  // null on `skip`, throws on `fail`, otherwise a reshaped body
  'shape.js': `export default function shape(msg, ctx) {
  if (msg.body.skip) { ctx.log('info', 'skipped ' + msg.body.id); return null; }
  if (msg.body.fail) throw new Error('cannot shape ' + msg.body.id);
  return { body: { id: msg.body.id, total: msg.body.cents / 100, route: ctx.route, attempt: ctx.attempt } };
}`,
  // one message per item; an async plugin
  'split.js': `export default async function split(msg) {
  if (!Array.isArray(msg.body.items)) throw new Error('no items');
  return msg.body.items.map((item) => ({ exchange: 'out', routingKey: 'item.' + item, body: { item }, headers: { n: msg.body.items.length } }));
}`,
};

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A project directory (routes/, plugins/, schemas/, tests/) per test: `run(tests)` writes the test
 * files and runs `warren test` on tests/ in-process; `options.routes` and `options.schemas` stand in
 * for the default route file and the (empty) schemas directory.
 */
export function useProject() {
  const temp = useTempDirs();
  return {
    async run(
      tests: Record<string, string>,
      options: {
        format?: 'text' | 'json';
        plugins?: Record<string, string>;
        paths?: string[];
        routes?: string;
        schemas?: Record<string, string>;
      } = {},
    ): Promise<Run & { dir: string }> {
      const dir = await temp.make('warren-test-');
      for (const sub of ['routes', 'plugins', 'schemas', 'tests']) await mkdir(join(dir, sub));
      await writeFile(join(dir, 'routes', 'routes.yaml'), options.routes ?? routesYaml);
      for (const [name, text] of Object.entries(options.schemas ?? {}))
        await writeFile(join(dir, 'schemas', name), text);
      for (const [name, text] of Object.entries({ ...plugins, ...options.plugins }))
        await writeFile(join(dir, 'plugins', name), text);
      for (const [name, text] of Object.entries(tests)) await writeFile(join(dir, 'tests', name), text);
      let stdout = '';
      let stderr = '';
      const out: Output = {
        stdout: (text) => {
          stdout += text;
        },
        stderr: (text) => {
          stderr += text;
        },
      };
      const code = await testCommand(
        {
          routes: join(dir, 'routes'),
          plugins: join(dir, 'plugins'),
          schemas: join(dir, 'schemas'),
          format: options.format ?? 'text',
        },
        (options.paths ?? ['tests']).map((p) => join(dir, p)),
        {},
        out,
      );
      return { code, stdout, stderr, dir };
    },
  };
}
