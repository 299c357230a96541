import { describe, expect, it } from 'vitest';
import { ctx, load, message } from './fixture.js';

describe('sandbox escape attempts', () => {
  it.each([
    ['require("fs")', 'export default () => require("fs")', /require is not defined/],
    ['process.env', 'export default () => ({ body: process.env })', /process is not defined/],
    [
      'a dynamic import("fs")',
      'export default async () => { const fs = await import("fs"); return { body: fs }; }',
      /Not supported/,
    ],
    ['fetch("http://x")', 'export default async () => fetch("http://x")', /fetch is not defined/],
    [
      'setTimeout',
      'export default () => new Promise((resolve) => setTimeout(resolve, 1))',
      /setTimeout is not defined/,
    ],
    [
      'this.constructor.constructor("return process")()',
      'export default function () { return this.constructor.constructor("return process")(); }',
      /Cannot read properties of undefined/,
    ],
    [
      'globalThis.constructor.constructor("return process")()',
      'export default () => globalThis.constructor.constructor("return process")()',
      /process is not defined/,
    ],
    [
      'msg.constructor.constructor("return process")()',
      'export default (msg) => msg.constructor.constructor("return process")()',
      /process is not defined/,
    ],
    [
      'ctx.log.constructor("return process")()',
      'export default (msg, ctx) => ctx.log.constructor("return process")()',
      /process is not defined/,
    ],
  ])('fails safely on %s', async (_, source, expected) => {
    const sandbox = await load(source);
    const run = await sandbox.run(message(), ctx);
    expect(run.kind).toBe('error');
    expect(run).toHaveProperty('message', expect.stringMatching(expected));
  });

  it('exposes no host globals, timers, network or engine extras to the plugin', async () => {
    const names = [
      'require',
      'process',
      'module',
      'Buffer',
      'fetch',
      'setTimeout',
      'setInterval',
      'setImmediate',
      'queueMicrotask',
      'structuredClone',
      'console',
      'WebAssembly',
      'SharedArrayBuffer',
      'Atomics',
      'FinalizationRegistry',
      'WeakRef',
    ];
    const sandbox = await load(
      `export default () => ({ body: ${JSON.stringify(names)}.filter((name) => typeof globalThis[name] !== 'undefined') })`,
    );
    expect(await sandbox.run(message(), ctx)).toMatchObject({ messages: [{ body: [] }] });
  });

  it('rejects a static import at load', async () => {
    await expect(
      load('import fs from "fs"; export default () => fs.readFileSync("/etc/passwd")'),
    ).rejects.toThrow(/imports are not allowed/);
  });

  it('keeps prototype tampering inside the isolate', async () => {
    const sandbox = await load(
      `export default (msg) => {
         msg.headers.__proto__.polluted = 1;
         Object.prototype.pollutedToo = 1;
         return { headers: JSON.parse('{"__proto__": {"polluted": 1}, "x": 1}') };
       }`,
    );
    const run = await sandbox.run(message(), ctx);
    const plain: Record<string, unknown> = {};
    expect(plain.polluted).toBeUndefined();
    expect(plain.pollutedToo).toBeUndefined();
    expect(run.kind).toBe('continue');
    const headers = run.kind === 'continue' ? run.messages[0]?.headers : undefined;
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
    expect(headers?.x).toBe(1);
  });

  it('hands the plugin a copy: mutating msg inside does not change the host object', async () => {
    const sandbox = await load(
      'export default (msg) => { msg.body.id = "changed"; msg.headers["x-tenant"] = "evil"; msg.body.lines.length = 0; return msg; }',
    );
    const original = message();
    const run = await sandbox.run(original, ctx);
    expect(original).toEqual(message());
    expect(run).toMatchObject({
      messages: [{ body: { id: 'changed', lines: [] }, headers: { 'x-tenant': 'evil' } }],
    });
    if (run.kind === 'continue') expect(run.messages[0]?.headers).not.toBe(original.headers);
  });

  // Without the runner's care, each of these would make isolated-vm run a loop while copying the
  // result out, after the timeout has stopped applying, and wedge the isolate.
  it('hands back plain data when the plugin plants a setter on Array.prototype', async () => {
    const sandbox = await load(
      `Object.defineProperty(Array.prototype, '0', {
         set(v) { Object.defineProperty(this, '1', { get() { while (true) {} }, enumerable: true }); },
       });
       export default () => [{ body: 'a' }];`,
    );
    expect(await sandbox.run(message(), ctx)).toEqual({
      kind: 'continue',
      fanOut: true,
      messages: [{ body: 'a' }],
    });
  });

  it('hands back plain data when the plugin plants a then on Object.prototype', async () => {
    const sandbox = await load(
      `Object.defineProperty(Object.prototype, 'then', {
         get() { return 'ok' in this ? (resolve) => resolve({ get ok() { while (true) {} } }) : undefined; },
       });
       export default async () => ({ body: 'a' });`,
    );
    expect(await sandbox.run(message(), ctx)).toEqual({
      kind: 'continue',
      fanOut: false,
      messages: [{ body: 'a' }],
    });
  });

  it('times out a proxy whose traps loop, instead of hanging while copying it out', async () => {
    const sandbox = await load(
      `let calls = 0;
       export default () => ++calls === 1 ? new Proxy({}, { ownKeys() { while (true) {} } }) : { body: calls };`,
    );
    expect(await sandbox.run(message(), ctx)).toMatchObject({ kind: 'timeout' });
    expect(await sandbox.run(message(), ctx)).toMatchObject({ kind: 'continue', messages: [{ body: 2 }] });
  });

  it('keeps the process serving after every fault above', async () => {
    const sandbox = await load('export default (msg) => ({ body: msg.body.id })');
    expect(await sandbox.run(message(), ctx)).toMatchObject({
      kind: 'continue',
      messages: [{ body: 'o-1' }],
    });
  });
});
