import { type LoadedFiles, type LoadOptions, loadRouteFiles } from './documents.js';
import { interpolateDocs } from './interpolate.js';
import { type ConfigIssue, sortIssues } from './issues.js';
import { normalizeDocs, type PluginUse } from './normalize.js';
import { redactIssues } from './redact.js';
import { defaultSchemasDir, SchemaCatalog } from './schemas.js';
import type { Config } from './types.js';
import { type CheckedDoc, validateDocument } from './validate.js';

/**
 * Loading a routes directory, the one entry: read the files into YAML documents (documents.ts),
 * interpolate `${…}` references, validate each document against the schema (validate.ts), then
 * normalise them into a `Config` with the checks that span documents (normalize.ts).
 */

export type ValidationResult =
  | { ok: true; config: Config; pluginUses?: PluginUse[] }
  | {
      ok: false;
      issues: ConfigIssue[];
      /** Hash of the files, as `config.version` would be. */
      version: string;
      /** Read by `warren validate`, which compiles every plugin a route names. */
      pluginUses?: PluginUse[];
    };

/** load → interpolate → validate → normalise, for a routes directory. Never throws. */
export async function loadConfig(
  dir: string,
  env: NodeJS.ProcessEnv = process.env,
  pluginsDir = './plugins',
  options: LoadOptions = {},
): Promise<ValidationResult> {
  const schemas = await SchemaCatalog.load(options.schemasDir ?? defaultSchemasDir);
  return validateLoaded(await loadRouteFiles(dir, options), env, pluginsDir, schemas);
}

/** Every stage after reading, for documents already parsed (the fuzz tests feed it directly). */
export function validateLoaded(
  loaded: LoadedFiles,
  env: NodeJS.ProcessEnv = process.env,
  pluginsDir = './plugins',
  schemas?: SchemaCatalog,
): ValidationResult {
  const issues = [...loaded.issues];
  const interpolation = interpolateDocs(loaded.docs, env);
  for (const issue of interpolation.issues) issues.push(issue);
  // A reference that failed leaves '' behind; the schema errors that causes would repeat the issue.
  const unresolved = new Set(interpolation.issues.map((i) => `${i.file}\0${i.pointer}`));
  // Every document goes on to the checks that span documents, broken or not: a schema error only
  // skips the checks whose own input it breaks, so one run reports every mistake (docs/errors.md).
  const checked: CheckedDoc[] = [];
  for (const raw of loaded.docs) {
    const result = validateDocument(raw);
    for (const issue of result.issues) {
      // Only schema errors repeat an interpolation issue; a document unreadable as data does not.
      if (!result.checked || !unresolved.has(`${issue.file}\0${issue.pointer}`)) issues.push(issue);
    }
    if (result.checked) checked.push(result.checked);
  }
  const built = normalizeDocs(checked, pluginsDir, schemas);
  for (const issue of built.issues) issues.push(issue);
  const { pluginUses } = built;
  if (issues.length > 0) {
    // An issue names the place, never a value an interpolation produced.
    const shown = redactIssues(sortIssues(issues), interpolation.secrets);
    return { ok: false, issues: shown, version: loaded.version, pluginUses };
  }
  return {
    ok: true,
    config: {
      ...built.config,
      secrets: [...new Set([...interpolation.secrets, ...built.secrets])],
      version: loaded.version,
    },
    pluginUses,
  };
}
