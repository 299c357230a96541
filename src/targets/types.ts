import type { Publisher } from '../amqp/publisher.js';
import type { PluginRef, TargetSpec } from '../config/types.js';
import type { Outcome } from '../delivery/outcome.js';
import type { Delivery } from '../delivery/types.js';
import type { PluginSandbox } from '../sandbox/isolate.js';

export type JsonSchema = Record<string, unknown>;

export interface TargetDeps {
  publisher: Publisher;
  /** The compiled sandbox of a plugin (shared per file, source and limits). */
  sandbox(ref: PluginRef): Promise<PluginSandbox>;
}

export type Handler = (delivery: Delivery) => Promise<Outcome>;

/** A target declares its own config schema, examples and factory. */
export interface TargetModule<K extends TargetSpec['kind'] = TargetSpec['kind']> {
  kind: K;
  description: string;
  schema: JsonSchema;
  /** Each example is validated against the generated schema by a test. */
  examples: unknown[];
  normalize(raw: Record<string, unknown>): Extract<TargetSpec, { kind: K }>;
  create(spec: Extract<TargetSpec, { kind: K }>, deps: TargetDeps): Handler | Promise<Handler>;
}
