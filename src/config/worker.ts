/**
 * Worker-thread entry of `ConfigWorker`: the very `loadConfig` the CLI runs, in a thread of its
 * own, so that reading, parsing and validating a large route file never holds the event loop
 * that serves `/healthz` and the deliveries. Replies are plain data (structured-cloned).
 */
import { parentPort } from 'node:worker_threads';
import type { LoadOptions } from './documents.js';
import { loadConfig, type ValidationResult } from './load.js';

export interface ValidationJob {
  id: number;
  dir: string;
  env: Record<string, string | undefined>;
  pluginsDir: string;
  options: LoadOptions;
}

export interface ValidationReply {
  id: number;
  result: ValidationResult;
}

async function validate(job: ValidationJob): Promise<ValidationResult> {
  try {
    return await loadConfig(job.dir, job.env, job.pluginsDir, job.options);
  } catch (err) {
    const message = `validation failed: ${err instanceof Error ? err.message : String(err)}`;
    return { ok: false, issues: [{ file: job.dir, line: 1, col: 1, pointer: '', message }], version: '' };
  }
}

const port = parentPort;
if (port) {
  port.on('message', (job: ValidationJob) => {
    void validate(job).then((result) => port.postMessage({ id: job.id, result } satisfies ValidationReply));
  });
}
