/** A delivery as a plugin sees it: a plain copy, `body` parsed when JSON. */
export interface PluginMessage {
  body: unknown;
  /** The body as JSON text, parsed inside the isolate into `body` (text that does not parse stays text). */
  bodyJson?: string;
  contentType?: string;
  headers: Record<string, unknown>;
  properties: Record<string, unknown>;
  exchange: string;
  routingKey: string;
  redelivered: boolean;
}

/** `ctx` without `log`, which the sandbox adds inside the isolate. */
export interface PluginContextData {
  route: string;
  attempt: number;
  /** ISO time */
  now: string;
  /** Not given to the plugin: asks for object bodies back as JSON text (`PluginOutput.bodyJson`). */
  jsonBodies?: boolean;
}

/** One message a plugin returned; fields it left out (or set to undefined) are absent. */
export interface PluginOutput {
  body?: unknown;
  /** The body as JSON text, in place of `body`, when the run asked for `jsonBodies`. */
  bodyJson?: string;
  headers?: Record<string, unknown>;
  routingKey?: string;
  exchange?: string;
}

export type PluginRun =
  /** The plugin returned null or undefined. */
  | { kind: 'drop' }
  /** An object → `[it]`, `fanOut: false`; an array → `fanOut: true` (possibly empty). */
  | { kind: 'continue'; messages: PluginOutput[]; fanOut: boolean }
  /** Threw, rejected, or returned something that is not null, a message or an array of them. */
  | { kind: 'error'; message: string }
  /** Ran past `timeoutMs`, synchronously or as a promise that did not settle in time. */
  | { kind: 'timeout'; message: string }
  /** Went past `memoryLimitMb`: the isolate was disposed and is rebuilt before the next run. */
  | { kind: 'memory'; message: string };

export interface SandboxOptions {
  timeoutMs: number;
  memoryLimitMb: number;
  /** Receives `ctx.log(level, text)` with the calling route; level is one of debug|info|warn|error. */
  log: (route: string, level: string, text: string) => void;
}
