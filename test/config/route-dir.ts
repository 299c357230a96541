import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

/** The repository root, for `routes.d/`, `schema/` and `bin/warren.js`. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** YAML text from rows, so that row n of the call is line n of the file. */
export function lines(...rows: string[]): string {
  return `${rows.join('\n')}\n`;
}

/**
 * Temporary directories for one test file, removed after each test. Register at the top of a
 * `describe` (it installs an `afterEach`).
 */
export function useTempDirs(): {
  make(prefix?: string): Promise<string>;
  routes(files: Record<string, string>): Promise<string>;
} {
  const made: string[] = [];
  afterEach(async () => {
    await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
  const make = async (prefix = 'warren-unit-') => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    made.push(dir);
    return dir;
  };
  return {
    make,
    /** A routes directory holding `files` (names may contain sub-directories). */
    async routes(files) {
      const dir = await make('warren-routes-');
      for (const [name, text] of Object.entries(files)) {
        await mkdir(dirname(join(dir, name)), { recursive: true });
        await writeFile(join(dir, name), text);
      }
      return dir;
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (`npm test` builds first through `pretest`). */
export function runWarren(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--no-node-snapshot', join(repoRoot, 'bin/warren.js'), ...args],
      { cwd: repoRoot, env: { PATH: process.env.PATH, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
