import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readRegularFile } from './read.js';

/** Files larger than this are hashed by their size alone (the load refuses them anyway). */
const maxHashedFileBytes = 64 * 1024 * 1024;

export interface WatchOptions {
  /** Quiet time after the last file event before a reload is tried. */
  debounceMs: number;
  /** Content check even without events: some mounts (network file systems) send none. */
  pollMs: number;
}

export const defaultWatchOptions: WatchOptions = { debounceMs: 300, pollMs: 10_000 };

/**
 * Hash of every regular file (or symlink to one) directly in the directories, by name and content.
 * A ConfigMap update swaps the `..data` symlink: the event names `..data`, not the files, and
 * editors save by rename; so changes are detected by content, never by event names alone.
 */
export async function hashDirectories(dirs: string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const dir of dirs) {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
    } catch {
      hash.update(`${dir}\0missing\0`);
      continue;
    }
    for (const name of names) {
      // Only regular files, opened non-blocking: a FIFO named `x.yaml` must not hold every later
      // reload behind a read that never ends. A sub-directory, a file that vanished mid-swap or
      // one over the cap counts by what was found (the load reports it); the next event or poll
      // sees the result of a swap.
      const read = await readRegularFile(join(dir, name), { maxBytes: maxHashedFileBytes });
      hash
        .update(`${dir}/${name}\0`)
        .update('error' in read ? `!${read.error}` : read.text)
        .update('\0');
    }
  }
  return hash.digest('hex');
}

/**
 * Calls `onChange` (debounced) when the content of the watched directories may have changed: on
 * file events (edit in place, rename over, add, delete, `..data` symlink swap) and on every poll.
 * The caller compares content hashes and skips reloads that would change nothing.
 */
export function watchDirectories(
  dirs: Array<string | { dir: string; recursive: boolean }>,
  onChange: () => void,
  options = defaultWatchOptions,
): { close(): void } {
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, options.debounceMs);
  };
  for (const entry of dirs) {
    const { dir, recursive } = typeof entry === 'string' ? { dir: entry, recursive: false } : entry;
    try {
      const watcher = watch(dir, { persistent: false, recursive }, schedule);
      watcher.on('error', () => {}); // the directory went away; polling still covers it
      watchers.push(watcher);
    } catch {
      // a missing directory is covered by polling until it appears
    }
  }
  const poll = setInterval(onChange, options.pollMs);
  poll.unref();
  return {
    close() {
      clearTimeout(timer);
      clearInterval(poll);
      for (const w of watchers) w.close();
    },
  };
}
