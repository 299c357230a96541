import { describe, expect, it, vi } from 'vitest';
import { PluginSandbox } from '../../src/sandbox/isolate.js';
import { ctx, FILE, load, logs, message } from './fixture.js';

describe('plugin results', () => {
  it('drops a message when the plugin returns null', async () => {
    const sandbox = await load('export default () => null');
    expect(await sandbox.run(message(), ctx)).toEqual({ kind: 'drop' });
  });

  it('drops a message when the plugin returns undefined', async () => {
    const sandbox = await load('export default () => {}');
    expect(await sandbox.run(message(), ctx)).toEqual({ kind: 'drop' });
  });

  it('continues with one message when the plugin returns an object', async () => {
    const sandbox = await load(
      'export default (msg) => ({ body: { id: msg.body.id, n: 2 }, headers: { a: 1 }, routingKey: "k", exchange: "x", extra: 1 })',
    );
    expect(await sandbox.run(message(), ctx)).toEqual({
      kind: 'continue',
      fanOut: false,
      messages: [{ body: { id: 'o-1', n: 2 }, headers: { a: 1 }, routingKey: 'k', exchange: 'x' }],
    });
  });

  it('fans out when the plugin returns an array', async () => {
    const sandbox = await load(
      'export default (msg) => msg.body.lines.map((line) => ({ body: line, routingKey: "line." + line.sku }))',
    );
    expect(await sandbox.run(message(), ctx)).toEqual({
      kind: 'continue',
      fanOut: true,
      messages: [
        { body: { sku: 'a' }, routingKey: 'line.a' },
        { body: { sku: 'b' }, routingKey: 'line.b' },
      ],
    });
  });

  it('fans out to nothing when the plugin returns an empty array', async () => {
    const sandbox = await load('export default () => []');
    expect(await sandbox.run(message(), ctx)).toEqual({ kind: 'continue', fanOut: true, messages: [] });
  });

  it('awaits an async plugin', async () => {
    const sandbox = await load(
      'export default async (msg) => { await null; return { body: msg.routingKey }; }',
    );
    expect(await sandbox.run(message(), ctx)).toEqual({
      kind: 'continue',
      fanOut: false,
      messages: [{ body: 'order.created' }],
    });
  });

  it('passes binary bodies and dates through as Uint8Array and Date', async () => {
    const sandbox = await load('export default (msg) => ({ body: msg.body, headers: { at: new Date(0) } })');
    const run = await sandbox.run({ ...message(), body: Buffer.from('hi') }, ctx);
    expect(run).toEqual({
      kind: 'continue',
      fanOut: false,
      messages: [{ body: new Uint8Array([104, 105]), headers: { at: new Date(0) } }],
    });
  });

  it.each([
    ['a number', 'export default () => 42', 'result is a number'],
    ['an array of non-objects', 'export default () => [{}, "x"]', 'result[1] is a string'],
    [
      'a non-string routing key',
      'export default () => ({ routingKey: 5 })',
      'result.routingKey must be a string',
    ],
    [
      'headers that are not an object',
      'export default () => ({ headers: [] })',
      'result.headers must be an object',
    ],
    ['a function', 'export default () => ({ body: { f() {} } })', 'result.body.f: a function cannot leave'],
    [
      'a cycle',
      'export default () => { const a = {}; a.a = a; return { body: a }; }',
      'a cyclic reference at result.body.a (it refers back 1 level up)',
    ],
    [
      'a long cycle',
      'export default () => { const a = { self: {} }; a.self.self = a; const r = { body: { list: [a] } }; return r; }',
      'a cyclic reference at result.body.list[0].self.self (it refers back 2 levels up)',
    ],
    [
      'a result nested too deep',
      'export default () => { let b = 1; for (let i = 0; i < 80; i++) b = { b }; return { body: b }; }',
      'nested deeper than 64',
    ],
    [
      'a getter',
      'export default () => ({ get body() { return 1; } })',
      'result.body: getters are not allowed',
    ],
  ])('reports an error when the plugin returns %s', async (_, source, expected) => {
    const sandbox = await load(source);
    const run = await sandbox.run(message(), ctx);
    expect(run.kind).toBe('error');
    expect(run).toHaveProperty('message', expect.stringContaining(expected));
  });
});

describe('plugin faults', () => {
  it('reports a thrown error with its message', async () => {
    const sandbox = await load('export default () => { throw new Error("boom"); }');
    expect(await sandbox.run(message(), ctx)).toEqual({ kind: 'error', message: 'boom' });
  });

  it('reports a rejected promise with its message', async () => {
    const sandbox = await load('export default async () => { await null; throw new TypeError("nope"); }');
    expect(await sandbox.run(message(), ctx)).toEqual({ kind: 'error', message: 'TypeError: nope' });
  });

  it('reports a thrown non-error, and truncates a long message', async () => {
    const thrower = await load('export default (msg) => { throw msg.routingKey; }');
    expect(await thrower.run(message(), ctx)).toEqual({ kind: 'error', message: 'order.created' });
    const verbose = await load('export default () => { throw new Error("x".repeat(5000)); }');
    const run = await verbose.run(message(), ctx);
    expect(run).toHaveProperty('message', expect.stringMatching(/^x{299}…$/));
  });

  it('times out an infinite loop, and the next call still works', async () => {
    const sandbox = await load(
      'let calls = 0; export default () => { if (++calls === 1) while (true) {} return { body: calls }; }',
    );
    const started = Date.now();
    expect(await sandbox.run(message(), ctx)).toMatchObject({ kind: 'timeout' });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await sandbox.run(message(), ctx)).toMatchObject({ kind: 'continue', messages: [{ body: 2 }] });
  });

  it('times out a loop after an await', async () => {
    const sandbox = await load('export default async () => { await null; while (true) {} }');
    expect(await sandbox.run(message(), ctx)).toMatchObject({ kind: 'timeout' });
  });

  it('times out a promise that never settles, and the next call still works', async () => {
    const sandbox = await load(
      'export default (msg) => msg.routingKey === "hang" ? new Promise(() => {}) : { body: "ok" }',
    );
    const started = Date.now();
    const run = await sandbox.run({ ...message(), routingKey: 'hang' }, ctx);
    expect(run).toEqual({ kind: 'timeout', message: 'plugin ran past its 50 ms time limit' });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await sandbox.run(message(), ctx)).toMatchObject({ kind: 'continue', messages: [{ body: 'ok' }] });
  });

  it('disposes the isolate on a ~500 MB allocation, and rebuilds it for the next call', async () => {
    const sandbox = await load(
      `let calls = 0;
       export default (msg) => {
         calls += 1;
         if (msg.routingKey === 'big') {
           const chunks = [];
           for (let i = 0; i < 64; i++) chunks.push(new Array(1_000_000).fill(i)); // 8 MB each
           return { body: chunks.length };
         }
         return { body: calls };
       }`,
      { timeoutMs: 10_000 },
    );
    expect(await sandbox.run(message(), ctx)).toMatchObject({ kind: 'continue', messages: [{ body: 1 }] });
    expect(await sandbox.run({ ...message(), routingKey: 'big' }, ctx)).toEqual({
      kind: 'memory',
      message: 'plugin exceeded its 32 MB memory limit; its isolate was disposed',
    });
    // rebuilt from source: module state starts over
    expect(await sandbox.run(message(), ctx)).toMatchObject({ kind: 'continue', messages: [{ body: 1 }] });
  });
});

describe('plugin module', () => {
  it('compiles the module once and reuses it across calls', async () => {
    const sandbox = await load('let calls = 0; export default () => ({ body: ++calls })');
    for (const expected of [1, 2, 3]) {
      expect(await sandbox.run(message(), ctx)).toMatchObject({ messages: [{ body: expected }] });
    }
  });

  it('runs concurrent calls one at a time, in order', async () => {
    const sandbox = await load(
      'let calls = 0; export default async () => { await null; return { body: ++calls }; }',
    );
    const runs = await Promise.all(Array.from({ length: 10 }, () => sandbox.run(message(), ctx)));
    expect(runs.map((run) => (run.kind === 'continue' ? run.messages[0]?.body : run.kind))).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
  });

  it('forwards ctx.log to the host log with the route', async () => {
    const sandbox = await load(
      'export default (msg, ctx) => { ctx.log("warn", "saw " + msg.body.id); ctx.log("shout", 42); return null; }',
    );
    expect(sandbox.file).toBe(FILE);
    await sandbox.run(message(), ctx);
    await vi.waitFor(() => expect(logs).toHaveLength(2));
    expect(logs).toEqual([
      { route: 'orders', level: 'warn', text: 'saw o-1' },
      { route: 'orders', level: 'info', text: '42' },
    ]);
  });

  it('caps the lines one call can log', async () => {
    const sandbox = await load(
      'export default (msg, ctx) => { for (let i = 0; i < 1000; i++) ctx.log("info", i); }',
    );
    await sandbox.run(message(), ctx);
    await vi.waitFor(() => expect(logs).toHaveLength(101));
    expect(logs.at(-1)).toMatchObject({ level: 'warn', text: expect.stringContaining('log limit') });
  });

  it.each([
    ['a syntax error', 'export default (msg) => {', /^plugin plugins\/test\.js: syntax error: Unexpected/],
    ['no default export', 'export const transform = () => null;', /no default export/],
    [
      'a default export that is not a function',
      'export default 42;',
      /default export is a number, not a function/,
    ],
    [
      'a static import',
      'import fs from "fs"; export default () => fs',
      /imports are not allowed \(it imports 'fs'\)/,
    ],
    [
      'top-level code that throws',
      'throw new Error("bad init"); export default () => null;',
      /top-level code failed: bad init/,
    ],
    [
      'top-level code that never ends',
      'while (true) {} export default () => null;',
      /top-level code failed: it ran past/,
    ],
    [
      'a top-level await that never settles',
      'await new Promise(() => {}); export default () => null;',
      /default export is not initialised/,
    ],
  ])('fails to load a plugin with %s', async (_, source, expected) => {
    await expect(load(source)).rejects.toThrow(expected);
  });

  it('answers with an error after it is disposed', async () => {
    const sandbox = await PluginSandbox.load(FILE, 'export default () => null', {
      timeoutMs: 50,
      memoryLimitMb: 32,
      log: () => {},
    });
    sandbox.dispose();
    expect(await sandbox.run(message(), ctx)).toMatchObject({ kind: 'error' });
  });
});
