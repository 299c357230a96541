import { readFileSync } from 'node:fs';
import { DiagLogLevel, diag } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { limitsFromEnv, samplerFromEnv } from './otel-config.js';
import { ExportThread } from './otel-handoff.js';
import { recordingTracer } from './otel-spans.js';
import type { Tracer } from './tracing.js';

export { limited, limitsFromEnv, samplerFromEnv } from './otel-config.js';
export { recordingTracer } from './otel-spans.js';

/**
 * Tracing behind `tracing.ts`, imported only when tracing is on. On the event loop a span is its
 * ids, the sampler's decision (`otel-config.ts`) and, once it ends, its OTLP protobuf
 * (`otel-spans.ts`, `otel-recorder.ts`, `otel-proto.ts`), handed through a ring of shared memory
 * (`otel-ring.ts`) to the export thread (`otel-handoff.ts`, `otel-worker.ts`), where the SDK's
 * batch processor and OTLP/HTTP exporter send it. Parents are explicit (no context manager, no
 * AsyncLocalStorage): a delivery's consumer span is the child of the message's traceparent, and its
 * children the delivery's.
 */

/** Warren's version, from the package.json above this file (src/ under vitest, dist/src/ built). */
function packageVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'warren' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}

/** How long the same kind of SDK message stays unsaid after it was logged. */
const repeatQuietMs = 60_000;

/**
 * The SDK's own problems (an export that failed, spans dropped from a full queue, a bad setting) as
 * Warren log lines, each kind (its text without numbers) at most once a minute: a collector that is
 * down, or a queue that overflows, would otherwise write a line per batch.
 */
export function diagToLog(log: Logger): Parameters<typeof diag.setLogger>[0] {
  const said = new Map<string, number>();
  const line =
    (level: 'warn' | 'error') =>
    (text: string, ...args: unknown[]): void => {
      const message = errorMessageOf(text);
      const kind = message.replace(/\d+/g, 'N');
      const now = Date.now();
      if (now - (said.get(kind) ?? -repeatQuietMs) < repeatQuietMs) return;
      said.set(kind, now);
      log[level](
        { event: 'tracing', detail: args.map(String).join(' ') || undefined },
        `OpenTelemetry: ${message} (the same message is not logged again for a minute)`,
      );
    };
  const quiet = () => {};
  return { error: line('error'), warn: line('warn'), info: quiet, debug: quiet, verbose: quiet };
}

/**
 * The SDK's error handler writes an exception it catches (a batch that timed out, a failed export)
 * as JSON of all its properties, stack included: the line says its message.
 */
function errorMessageOf(text: string): string {
  if (!text.startsWith('{')) return text;
  try {
    const { message } = JSON.parse(text) as { message?: unknown };
    return typeof message === 'string' && message !== '' ? message : text;
  } catch {
    return text;
  }
}

/**
 * A tracer recording on the event loop and exporting over OTLP/HTTP from the export thread
 * (`otel-handoff.ts`, `otel-worker.ts`), which has loaded the SDK and the exporter when this
 * resolves. Resource (made there): `service.name` warren and `service.version` from package.json,
 * which `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` override; the SDK's own attributes
 * (`telemetry.sdk.*`) beside them.
 */
export async function createTracer(log: Logger): Promise<Tracer> {
  diag.disable(); // made again in one process (the bench): replace the logger without a warning
  diag.setLogger(diagToLog(log), DiagLogLevel.WARN);
  const sampler = samplerFromEnv(process.env);
  const limits = limitsFromEnv(process.env);
  const thread = new ExportThread(packageVersion());
  try {
    await thread.ready;
  } catch (err) {
    await thread.abandon();
    throw err;
  }
  const recording = recordingTracer(thread, sampler, limits);
  return {
    startDelivery: recording.startDelivery,
    shutdown: async (deadlineMs) => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, deadlineMs);
      });
      await Promise.race([thread.shutdown().catch(() => {}), deadline]);
      clearTimeout(timer);
      // Past the deadline the thread may still wait for a collector that does not answer: it is
      // let go of now, so nothing is left to hold a stop.
      await thread.abandon();
    },
  };
}
