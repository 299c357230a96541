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
