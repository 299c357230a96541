import type { PluginOutput, PluginRun } from './types.js';

export const MAX_MESSAGE_CHARS = 300;

export function truncate(text: string, max = MAX_MESSAGE_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The message isolated-vm's own timeout throws with. */
const TIMED_OUT = 'Script execution timed out.';

export function isTimeout(err: unknown): boolean {
  return err instanceof Error && err.message === TIMED_OUT;
}

/** An error's message, cut to MAX_MESSAGE_CHARS like every fault a run reports. */
export function reasonOf(err: unknown): string {
  return truncate(err instanceof Error ? err.message : String(err));
}

export function errorRun(message: string): PluginRun {
  return { kind: 'error', message: truncate(message) };
}

/** What the in-isolate runner hands back (see runner.ts); checked, since it crossed a boundary. */
export function toPluginRun(envelope: unknown): PluginRun {
  if (!isRecord(envelope)) return errorRun('the sandbox runner returned no envelope');
  if (envelope.ok !== true) {
    return errorRun(typeof envelope.error === 'string' ? envelope.error : 'the plugin failed');
  }
  const value = envelope.value;
  if (value === null || value === undefined) return { kind: 'drop' };
  if (Array.isArray(value)) {
    const messages: PluginOutput[] = [];
    for (const [index, item] of value.entries()) {
      const output = toOutput(item, `result[${index}]`);
      if (typeof output === 'string') return errorRun(output);
      messages.push(output);
    }
    return { kind: 'continue', messages, fanOut: true };
  }
  const output = toOutput(value, 'result');
  if (typeof output === 'string') return errorRun(output);
  return { kind: 'continue', messages: [output], fanOut: false };
}

/** A message object, or a string saying what is wrong with it. */
function toOutput(value: unknown, where: string): PluginOutput | string {
  if (!isRecord(value)) {
    return `${where} is ${describeType(value)}; a plugin returns null, a message object or an array of them`;
  }
  const output: PluginOutput = {};
  if (value.body !== undefined) output.body = value.body;
  if (typeof value.bodyJson === 'string') output.bodyJson = value.bodyJson;
  if (value.headers !== undefined) {
    if (!isRecord(value.headers))
      return `${where}.headers must be an object, not ${describeType(value.headers)}`;
    output.headers = value.headers;
  }
  for (const key of ['routingKey', 'exchange'] as const) {
    const field = value[key];
    if (field === undefined) continue;
    if (typeof field !== 'string') return `${where}.${key} must be a string, not ${describeType(field)}`;
    output[key] = field;
  }
  return output;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array) &&
    !(value instanceof Date)
  );
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'binary data';
  if (value instanceof Date) return 'a date';
  return `a ${typeof value}`;
}
