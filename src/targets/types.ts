import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import type { Publisher } from '../amqp/publisher.js';
import type { PluginRef, TargetSpec } from '../config/types.js';
import type { SchemaSet } from '../contracts/compile.js';
import type { Outcome } from '../delivery/outcome.js';
import type { Delivery } from '../delivery/types.js';
import type { PluginSandbox } from '../sandbox/isolate.js';

export interface TargetDeps {
  publisher: Publisher;
  /** The compiled sandbox of a plugin (shared per file, source and limits). */
  sandbox(ref: PluginRef): Promise<PluginSandbox>;
  /** The compiled schemas directory of this hash (`schema:` routes need it). */
  schemas?(hash: string): SchemaSet;
  /** The `${env:…}`/`${file:…}` values of every configuration loaded: never shown (a span's URL). */
  secrets?(): readonly string[];
}

export type Handler = (delivery: Delivery) => Promise<Outcome>;

/**
 * A target declares its own config schema, examples and factory. `normalize` takes what the
 * schema admits, typed from the schema object itself (`as const`), so the two cannot drift.
 */
export interface TargetModule<K extends TargetSpec['kind'], S extends JSONSchema> {
  kind: K;
  description: string;
  schema: S;
  /** Typed by the schema; a test also validates each against the generated one, Warren's keywords too. */
  examples: FromSchema<S>[];
  normalize(raw: FromSchema<S>): Extract<TargetSpec, { kind: K }>;
  create(spec: Extract<TargetSpec, { kind: K }>, deps: TargetDeps): Handler | Promise<Handler>;
}
