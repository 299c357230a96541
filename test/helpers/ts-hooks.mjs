// Module hooks for a worker thread started from the TypeScript sources (under vitest): `./x.js`
// imported from a .ts file resolves to `./x.ts`, and .ts files are stripped of their types with
// oxc (through rolldown, which vitest's vite brings), as the build would. Never used by the built package (dist/).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { transformSync } from 'rolldown/utils';

export async function resolve(specifier, context, next) {
  if (context.parentURL?.endsWith('.ts') && specifier.startsWith('.') && specifier.endsWith('.js')) {
    const url = new URL(`${specifier.slice(0, -3)}.ts`, context.parentURL);
    if (existsSync(url)) return { url: url.href, shortCircuit: true };
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context);
  const source = await readFile(new URL(url), 'utf8');
  const output = transformSync(new URL(url).pathname, source, {});
  if (output.errors.length > 0) throw new Error(`${url}: ${output.errors[0]?.message}`);
  return { format: 'module', source: output.code, shortCircuit: true };
}
