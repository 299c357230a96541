import type { FromSchema } from 'json-schema-to-ts';
import { pluginRefSchema } from '../plugins/ref.js';

/** The `to.plugin` schema and its examples: a plugin reference in its object form only. */
export const pluginTargetSchema = {
  ...pluginRefSchema,
  description:
    'A sandboxed plugin whose returned message(s) are published (to their `exchange`/`routingKey`, by default the original ones), each confirmed before the ack.',
} as const;

/** `to.plugin` as the schema admits it (before defaults). */
export type RawPluginTarget = FromSchema<typeof pluginTargetSchema>;

export const pluginTargetExamples: RawPluginTarget[] = [
  { file: 'split-order-lines.js' },
  { file: 'split-order-lines.js', timeout: '100ms', memoryLimitMb: 64 },
];
