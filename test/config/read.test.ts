import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type ReadResult, readRegularFile, readRegularFileSync } from '../../src/config/read.js';

const textOf = (r: ReadResult): string => ('text' in r ? r.text : `error: ${r.error}`);
const errorOf = (r: ReadResult): string => ('error' in r ? r.error : 'read without an error');

// procfs says 0 bytes for /proc/self/status, as some FUSE mounts do for real files: a reader that
// trusts fstat's size would return one byte of it and no error.
const procfs = '/proc/self/status';

describe('reading a regular file to its end, not to the size fstat told', () => {
  it('reads the whole of a file whose size is reported as 0 (sync and async)', async () => {
    const sync = readRegularFileSync(procfs, { maxBytes: 1 << 20 });
    const async = await readRegularFile(procfs, { maxBytes: 1 << 20 });

    expect(textOf(sync).startsWith('Name:')).toBe(true);
    expect(textOf(sync).length).toBeGreaterThan(100);
    expect(textOf(async).split('\n').length).toBe(readFileSync(procfs, 'utf8').split('\n').length);
  });

  it('still refuses it past the cap, once the bytes read pass it', () => {
    expect(errorOf(readRegularFileSync(procfs, { maxBytes: 64 }))).toMatch(/over the limit of 64 bytes/);
  });
});
