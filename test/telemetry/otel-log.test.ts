import { DiagLogLevel, diag } from '@opentelemetry/api';
import { globalErrorHandler } from '@opentelemetry/core';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { diagToLog } from '../../src/telemetry/otel.js';

describe("the SDK's messages in Warren's log", () => {
  afterEach(() => diag.disable());

  it('says an exception the SDK caught by its message, without the JSON of its stack', () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    diag.setLogger(diagToLog(log), DiagLogLevel.WARN);
    // What the batch processor does with a batch that timed out.
    globalErrorHandler(new Error('Timeout'));
    globalErrorHandler(new Error('Timeout')); // within the minute: not said again
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, event: 'tracing' });
    expect(lines[0]!.msg).toBe('OpenTelemetry: Timeout (the same message is not logged again for a minute)');
  });
});
