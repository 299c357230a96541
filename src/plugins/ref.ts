import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { FromSchema } from 'json-schema-to-ts';
import { durationSchema, parseDuration } from '../config/duration.js';
import { defaultMaxFileBytes, readRegularFileSync } from '../config/read.js';
import { defaults, limits, type PluginRef } from '../config/types.js';

/** `file`, or `{ file, timeout, memoryLimitMb }`: how a route names a plugin. */
export const pluginRefSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['file'],
  properties: {
    file: {
      type: 'string',
      minLength: 1,
      description:
        'An ES module in the plugins directory: a path relative to it, or an absolute path inside it.',
    },
    timeout: durationSchema(limits.pluginTimeout, 'Per-call time limit. Default 50ms.'),
    memoryLimitMb: {
      type: 'integer',
      minimum: 8,
      maximum: 4096,
      description: 'Isolate heap limit. Default 32.',
    },
  },
} as const;

/** A plugin reference as the schema admits it: a file name, or the object form. */
export type RawPluginRef = string | FromSchema<typeof pluginRefSchema>;

/** The ref with defaults; `file` is still as written until `resolvePluginRef`. */
export function normalizePluginRef(raw: RawPluginRef): PluginRef {
  const ref = typeof raw === 'string' ? { file: raw } : raw;
  return {
    file: ref.file,
    name: ref.file,
    timeoutMs: ref.timeout === undefined ? defaults.pluginTimeoutMs : parseDuration(ref.timeout),
    memoryLimitMb: ref.memoryLimitMb ?? defaults.pluginMemoryLimitMb,
    sourceHash: '',
  };
}

export type ResolvedPlugin = { ref: PluginRef; source: string } | { error: string };

function inside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

/**
 * Resolves a plugin path inside the plugins directory and reads its source. Anything resolving
 * outside — `../x.js`, an absolute path elsewhere, a symlink pointing out — is an error.
 */
export function resolvePluginRef(ref: PluginRef, pluginsDir: string): ResolvedPlugin {
  const dir = resolve(pluginsDir);
  const path = isAbsolute(ref.file) ? ref.file : join(dir, ref.file);
  if (!inside(dir, resolve(path))) {
    return { error: `plugin \`${ref.file}\` is outside the plugins directory ${dir}` };
  }
  let real: string;
  let realDir: string;
  try {
    realDir = realpathSync(dir);
    real = realpathSync(path);
  } catch {
    return { error: `plugin \`${ref.file}\` not found in ${dir}` };
  }
  if (!inside(realDir, real)) {
    return { error: `plugin \`${ref.file}\` resolves (through a link) outside the plugins directory ${dir}` };
  }
  // A directory, a FIFO or a device named like a plugin is an error, never a throw or a hang.
  const read = readRegularFileSync(real, { maxBytes: defaultMaxFileBytes });
  if ('error' in read) return { error: `plugin \`${ref.file}\` ${read.error}` };
  const source = read.text;
  return {
    ref: {
      ...ref,
      file: resolve(path),
      name: relative(dir, resolve(path)),
      sourceHash: createHash('sha256').update(source).digest('hex').slice(0, 12),
    },
    source,
  };
}
