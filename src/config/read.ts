import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

/** Default cap on one route file: far above any real one, far below what stalls a reload. */
export const defaultMaxFileBytes = 4 * 1024 * 1024;
/** Cap on a file read by `${file:…}`: a secret, a certificate, never more. */
export const maxInterpolatedFileBytes = 1024 * 1024;

export type ReadResult = { text: string } | { error: string };

/**
 * Opened non-blocking so that a FIFO (nobody writing) returns at once instead of waiting for a
 * writer; everything else is decided on the open descriptor, so a swap between a check and the
 * read cannot slip a different file in.
 */
const flags = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** What the file is, when it is not a regular file; undefined when it is one. */
function notRegular(stats: Stats): string | undefined {
  if (stats.isFile()) return undefined;
  if (stats.isDirectory()) return 'is a directory, not a file';
  if (stats.isFIFO()) return 'is a named pipe (FIFO), not a regular file';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'is a device, not a regular file';
  if (stats.isSocket()) return 'is a socket, not a regular file';
  return 'is not a regular file';
}

function tooLarge(size: number, maxBytes: number, setting: string): string {
  return `is ${size.toLocaleString('en-US')} bytes, over the limit of ${maxBytes.toLocaleString('en-US')} bytes${setting}`;
}

/** A read error in words (a symlink to nowhere, as during a ConfigMap swap, is ENOENT). */
export function describeReadError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'not found (or a symbolic link to a missing file)';
    case 'EISDIR':
      return 'is a directory, not a file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ELOOP':
      return 'is a loop of symbolic links';
    case 'ENOTDIR':
      return 'has a path component that is not a directory';
    default:
      return `cannot be read (${code ?? (err instanceof Error ? err.message : String(err))})`;
  }
}

export interface ReadLimits {
  maxBytes: number;
  /** How to raise the limit, appended to the "too large" message (e.g. ` (--max-file-bytes)`). */
  setting?: string;
}

/** Why a file of these stats is not read at all, before a byte is read; undefined to read it. */
function refusal(stats: Stats, limits: ReadLimits): string | undefined {
  return (
    notRegular(stats) ??
    (stats.size > limits.maxBytes ? tooLarge(stats.size, limits.maxBytes, limits.setting ?? '') : undefined)
  );
}

/**
 * The bytes of one read, to the end of the file rather than to the size fstat told: a file may grow
 * meanwhile, and some file systems (procfs, FUSE) say 0. Past maxBytes + 1 the answer is known: too
 * large. The sync and the async reader share it; only the read call differs.
 */
class Collected {
  buffer: Buffer<ArrayBuffer>;
  length = 0;

  constructor(
    size: number,
    private readonly limits: ReadLimits,
  ) {
    this.buffer = Buffer.alloc(Math.min(size, limits.maxBytes) + 1);
  }

  /** Counts `n` bytes just read into `buffer` at `length`; false once there is nothing more to read. */
  took(n: number): boolean {
    if (n === 0) return false;
    this.length += n;
    if (this.length < this.buffer.length) return true;
    if (this.length > this.limits.maxBytes) return false;
    const bigger = Buffer.alloc(Math.min(Math.max(this.buffer.length * 2, 4096), this.limits.maxBytes + 1));
    this.buffer.copy(bigger);
    this.buffer = bigger;
    return true;
  }

  result(): ReadResult {
    const { length, limits } = this;
    if (length > limits.maxBytes) return { error: tooLarge(length, limits.maxBytes, limits.setting ?? '') };
    return { text: this.buffer.toString('utf8', 0, length) };
  }
}

/** Reads a regular file of at most `maxBytes` as UTF-8; anything else is an error in words. */
export function readRegularFileSync(path: string, limits: ReadLimits): ReadResult {
  let fd: number;
  try {
    fd = openSync(path, flags);
  } catch (err) {
    return { error: describeReadError(err) };
  }
  try {
    const stats = fstatSync(fd);
    const refused = refusal(stats, limits);
    if (refused) return { error: refused };
    const got = new Collected(stats.size, limits);
    while (got.took(readSync(fd, got.buffer, got.length, got.buffer.length - got.length, null))) {}
    return got.result();
  } catch (err) {
    return { error: describeReadError(err) };
  } finally {
    closeSync(fd);
  }
}

/** `readRegularFileSync`, without holding the event loop while the bytes arrive. */
export async function readRegularFile(path: string, limits: ReadLimits): Promise<ReadResult> {
  let handle: FileHandle;
  try {
    handle = await open(path, flags);
  } catch (err) {
    return { error: describeReadError(err) };
  }
  try {
    const stats = await handle.stat();
    const refused = refusal(stats, limits);
    if (refused) return { error: refused };
    const got = new Collected(stats.size, limits);
    for (;;) {
      const { bytesRead } = await handle.read(got.buffer, got.length, got.buffer.length - got.length, null);
      if (!got.took(bytesRead)) break;
    }
    return got.result();
  } catch (err) {
    return { error: describeReadError(err) };
  } finally {
    await handle.close().catch(() => {});
  }
}
