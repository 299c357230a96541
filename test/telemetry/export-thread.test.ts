import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startTracing, stopTracing, tracer } from '../../src/telemetry/tracing.js';

describe('an export thread that cannot start', () => {
  afterEach(() => stopTracing());

  // Under vitest the thread's module is TypeScript beside a `.js` URL that does not exist: the
  // thread throws as it loads, as a thread that cannot start would in production.
  it('leaves tracing off and says why, once', async () => {
    const lines: Array<{ level: number; msg: string; event?: string }> = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const on = await startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }, log);
    expect(on).toBe(false);
    expect(tracer).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 50)); // a late line would be here by now
    expect(lines).toEqual([
      expect.objectContaining({
        level: 50,
        event: 'tracing_off',
        msg: expect.stringMatching(/^tracing could not start: .*otel-worker.*; tracing is off$/),
      }),
    ]);
  });
});
