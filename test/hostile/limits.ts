import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { parseRouteFile } from '../../src/config/documents.js';
import { formatIssue } from '../../src/config/issues.js';
import { type ValidationResult, validateLoaded } from '../../src/config/load.js';

/**
 * What the limit tests share: a validator of one route file against a plugins directory holding
 * `ok.js`, the file's issues as printed, and the route and name builders.
 */
export function useValidator(): {
  validate(text: string): ValidationResult;
  issues(text: string): string[];
} {
  let plugins: string;
  beforeAll(async () => {
    plugins = await mkdtemp(join(tmpdir(), 'warren-limits-plugins-'));
    await writeFile(join(plugins, 'ok.js'), 'export default (m) => m;\n');
  });
  afterAll(async () => {
    await rm(plugins, { recursive: true, force: true });
  });
  const validate = (text: string): ValidationResult =>
    validateLoaded({ ...parseRouteFile('r.yaml', text), version: 'test' }, {}, plugins);
  return {
    validate,
    issues(text) {
      const result = validate(text);
      return result.ok ? [] : result.issues.map(formatIssue);
    },
  };
}

/** One route `r` on queue `q`; `lines` are added under it (4-space indent), `to` replaces the webhook. */
export function route(
  lines: string[] = [],
  to = 'to: { webhook: { url: "http://hooks.internal/x" } }',
): string {
  return ['routes:', '  r:', '    from: { queue: q }', `    ${to}`, ...lines.map((l) => `    ${l}`), ''].join(
    '\n',
  );
}

export const ascii = (bytes: number) => 'n'.repeat(bytes);
/** `ä` is 2 bytes in UTF-8: 128 of them are 128 characters but 256 bytes. */
export const twoByte = (chars: number) => 'ä'.repeat(chars);
