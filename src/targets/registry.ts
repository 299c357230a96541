import { pluginTarget } from './plugin.js';
import { republishTarget } from './republish.js';
import { webhookTarget } from './webhook.js';

/**
 * Written out rather than taken from an `as const` tuple: on the tuple, array methods such as
 * `map` make tsc compare the modules' schema-derived types until it gives up (TS2589).
 */
export type AnyTarget = typeof webhookTarget | typeof republishTarget | typeof pluginTarget;

/** Every target, in one explicit list: the schema, the docs and the runtime all read it. */
export const targets: readonly AnyTarget[] = [webhookTarget, republishTarget, pluginTarget];
