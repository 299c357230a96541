import { parentPort, workerData } from 'node:worker_threads';
import { DiagLogLevel, diag } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import type { FromExportThread, ToExportThread } from './otel-handoff.js';
import { decodeSpans } from './otel-spans.js';

/**
 * The export thread (`otel-handoff.ts` starts it): the official OTLP/HTTP exporter turns the
 * batches Warren's event loop hands over into OTLP JSON and sends them, so the serialisation and the
 * request's own work happen here. The exporter reads its `OTEL_EXPORTER_OTLP_*` variables and the
 * resource detector `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` from this thread's copy of the
 * environment, taken when Warren started it.
 */

const port = parentPort!;
const { version } = workerData as { version: string };

function post(message: FromExportThread): void {
  port.postMessage(message);
}

/** The exporter's own warnings and errors go to Warren's log, on the main thread. */
function forward(level: 'warn' | 'error') {
  return (message: string, ...args: unknown[]): void =>
    post({ kind: 'diag', level, message, detail: args.map(String).join(' ') });
}
const quiet = () => {};
diag.setLogger(
  { error: forward('error'), warn: forward('warn'), info: quiet, debug: quiet, verbose: quiet },
  DiagLogLevel.WARN,
);

const resource = defaultResource()
  .merge(resourceFromAttributes({ 'service.name': 'warren', 'service.version': version }))
  .merge(detectResources({ detectors: [envDetector] }));
const scope = { name: 'warren', version };
const exporter = new OTLPTraceExporter();

function settled(id: number, work: Promise<void>): void {
  work.then(
    () => post({ kind: 'done', id }),
    (err: unknown) => post({ kind: 'done', id, error: String((err as Error)?.message ?? err) }),
  );
}

port.on('message', (m: ToExportThread) => {
  if (m.kind === 'export')
    exporter.export(decodeSpans(m.spans, resource, scope), (result) =>
      post({
        kind: 'done',
        id: m.id,
        ...(result.code === ExportResultCode.SUCCESS
          ? {}
          : { error: result.error?.message ?? 'span export failed' }),
      }),
    );
  else if (m.kind === 'flush') settled(m.id, exporter.forceFlush());
  else settled(m.id, exporter.shutdown());
});
