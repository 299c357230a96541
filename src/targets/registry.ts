import { pluginTarget } from './plugin.js';
import { republishTarget } from './republish.js';
import type { TargetModule } from './types.js';
import { webhookTarget } from './webhook.js';

export type AnyTarget = TargetModule<'webhook'> | TargetModule<'republish'> | TargetModule<'plugin'>;

/** Every target, in one explicit list: the schema, the docs and the runtime all read it. */
export const targets: readonly AnyTarget[] = [webhookTarget, republishTarget, pluginTarget];
