import { DiagLogLevel, diag } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { ExportThread } from '../../src/telemetry/otel-handoff.js';
import { waitFor } from '../helpers/broker.js';

/** One finished span, as the batch processor hands them over. */
function someSpans(): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  provider.getTracer('test').startSpan('one').end();
  return memory.getFinishedSpans();
}

describe('the export thread, when it fails', () => {
  afterEach(() => diag.disable());

  // Under vitest the thread's module is TypeScript beside a `.js` URL that does not exist: the
  // thread throws as it loads, as a thread that cannot start would in production.
  it('is said once, and every batch, before and after, is answered', async () => {
    const said: string[] = [];
    const line = (message: string) => said.push(message);
    const quiet = () => {};
    diag.setLogger({ error: line, warn: line, info: quiet, debug: quiet, verbose: quiet }, DiagLogLevel.WARN);
    const thread = new ExportThread('test');
    const spans = someSpans();
    const results: ExportResult[] = [];
    for (let i = 0; i < 6; i++) thread.export(spans, (r) => results.push(r));
    await waitFor('the first batches answered', () => results.length === 6);
    for (let i = 0; i < 3; i++) thread.export(spans, (r) => results.push(r));
    expect(results).toHaveLength(9);
    expect(results.every((r) => r.code === ExportResultCode.SUCCESS)).toBe(true); // dropped, said once
    expect(said).toEqual([
      expect.stringMatching(/^the export thread failed: .*otel-worker.* spans are no longer exported$/),
    ]);
    await thread.shutdown().catch(() => {});
    expect(said).toHaveLength(1);
  });
});
