import { describe, expect, it } from 'vitest';
import { PluginSandbox } from '../../src/sandbox/isolate.js';

const options = { timeoutMs: 1_000, memoryLimitMb: 32, log: () => {} };
const ctx = { route: 'r', attempt: 1, now: '2026-11-29T00:00:00.000Z' };
const message = (n: number) => ({
  body: { n },
  headers: {},
  properties: {},
  exchange: '',
  routingKey: 'k',
  redelivered: false,
});

describe('many runs of one sandbox at once', () => {
  it('gives every run of an async plugin its own result', async () => {
    const sandbox = await PluginSandbox.load(
      'echo.js',
      'export default async (msg) => { await null; return { body: msg.body }; }',
      options,
    );
    try {
      const runs = await Promise.all(Array.from({ length: 500 }, (_, n) => sandbox.run(message(n), ctx)));
      const wrong = runs.filter(
        (run, n) => run.kind !== 'continue' || (run.messages[0]?.body as { n: number } | undefined)?.n !== n,
      );
      expect(wrong).toEqual([]);
    } finally {
      sandbox.dispose();
    }
  });

  it('keeps runs apart when sync and async results alternate', async () => {
    const sandbox = await PluginSandbox.load(
      'mixed.js',
      'export default (msg) => msg.body.n % 2 ? Promise.resolve({ body: msg.body }) : { body: msg.body }',
      options,
    );
    try {
      const runs = await Promise.all(Array.from({ length: 300 }, (_, n) => sandbox.run(message(n), ctx)));
      expect(
        runs.map((run) => (run.kind === 'continue' ? (run.messages[0]!.body as { n: number }).n : -1)),
      ).toEqual(Array.from({ length: 300 }, (_, n) => n));
    } finally {
      sandbox.dispose();
    }
  });
});

/**
 * Runs asked for in one turn share an isolate call (a batch). A fault in one message of a batch
 * must be charged to that message alone; the others keep their results.
 */
describe('runs batched into one isolate call', () => {
  const bodyOf = (run: Awaited<ReturnType<PluginSandbox['run']>>) =>
    run.kind === 'continue' ? (run.messages[0]!.body as { n: number }).n : run.kind;

  it('returns every result in order, each with its own ctx', async () => {
    const sandbox = await PluginSandbox.load(
      'ctx.js',
      'export default (msg, ctx) => ({ body: { n: msg.body.n, attempt: ctx.attempt } })',
      options,
    );
    try {
      const runs = await Promise.all(
        Array.from({ length: 100 }, (_, n) => sandbox.run(message(n), { ...ctx, attempt: n + 1 })),
      );
      expect(runs.map((run) => (run.kind === 'continue' ? run.messages[0]!.body : run))).toEqual(
        Array.from({ length: 100 }, (_, n) => ({ n, attempt: n + 1 })),
      );
    } finally {
      sandbox.dispose();
    }
  });

  it('charges an endless loop to its own message; the rest of the batch succeeds', async () => {
    const sandbox = await PluginSandbox.load(
      'loop.js',
      'export default (msg) => { if (msg.body.n === 5) for (;;) {} return { body: msg.body }; }',
      { ...options, timeoutMs: 50 },
    );
    try {
      const runs = await Promise.all(Array.from({ length: 12 }, (_, n) => sandbox.run(message(n), ctx)));
      expect(runs.map(bodyOf)).toEqual([0, 1, 2, 3, 4, 'timeout', 6, 7, 8, 9, 10, 11]);
      // and the sandbox goes on serving
      expect(bodyOf(await sandbox.run(message(99), ctx))).toBe(99);
    } finally {
      sandbox.dispose();
    }
  });

  it('charges a memory breach to its own message and rebuilds the isolate for the others', async () => {
    const sandbox = await PluginSandbox.load(
      'hog.js',
      `export default (msg) => {
        if (msg.body.n === 3) { const hog = []; for (;;) hog.push(new Array(1e6).fill(msg.body.n)); }
        return { body: msg.body };
      }`,
      { ...options, timeoutMs: 5_000, memoryLimitMb: 32 },
    );
    try {
      const runs = await Promise.all(Array.from({ length: 8 }, (_, n) => sandbox.run(message(n), ctx)));
      expect(runs.map(bodyOf)).toEqual([0, 1, 2, 'memory', 4, 5, 6, 7]);
    } finally {
      sandbox.dispose();
    }
  });

  it('keeps a thrown error to its own message', async () => {
    const sandbox = await PluginSandbox.load(
      'throw.js',
      'export default (msg) => { if (msg.body.n % 3 === 0) throw new Error("no " + msg.body.n); return { body: msg.body }; }',
      options,
    );
    try {
      const runs = await Promise.all(Array.from({ length: 7 }, (_, n) => sandbox.run(message(n), ctx)));
      expect(runs.map((run) => (run.kind === 'error' ? run.message : bodyOf(run)))).toEqual([
        'no 0',
        1,
        2,
        'no 3',
        4,
        5,
        'no 6',
      ]);
    } finally {
      sandbox.dispose();
    }
  });
});

describe('batches and async results after a rebuild', () => {
  it('gives every message its own result when an isolate is rebuilt while async runs queue up', async () => {
    const sandbox = await PluginSandbox.load(
      'hog-sometimes-async.js',
      `export default (msg) => {
        if (msg.body.hog) { const hog = []; for (;;) hog.push(new Array(1e6).fill(1)); }
        return msg.body.n % 2 ? Promise.resolve({ body: msg.body }) : { body: msg.body };
      }`,
      { ...options, timeoutMs: 5_000, memoryLimitMb: 32 },
    );
    const withHog = (n: number) => ({ ...message(n), body: { n, hog: n === 3 } });
    try {
      const first = Array.from({ length: 8 }, (_, n) => sandbox.run(withHog(n), ctx));
      // The next socket read's worth, while the batch above breaks its isolate and reruns alone.
      await new Promise((resolve) => setImmediate(resolve));
      // ... and more, one per turn of the event loop (each its own batch of one).
      const second: Array<Promise<Awaited<ReturnType<PluginSandbox['run']>>>> = [];
      for (let i = 0; i < 60; i++) {
        second.push(sandbox.run(withHog(100 + i), ctx));
        if (i % 2) await new Promise((resolve) => setImmediate(resolve));
      }
      const runs = await Promise.all([...first, ...second]);
      const got = runs.map((run) =>
        run.kind === 'continue' ? (run.messages[0]!.body as { n: number }).n : run.kind,
      );
      expect(got).toEqual([0, 1, 2, 'memory', 4, 5, 6, 7, ...Array.from({ length: 60 }, (_, i) => 100 + i)]);
    } finally {
      sandbox.dispose();
    }
  });
});
