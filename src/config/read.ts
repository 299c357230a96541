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

/** A buffer twice as large (at most maxBytes + 1) holding what `buffer` held. */
function grown(buffer: Buffer<ArrayBuffer>, maxBytes: number): Buffer<ArrayBuffer> {
  const bigger = Buffer.alloc(Math.min(Math.max(buffer.length * 2, 4096), maxBytes + 1));
  buffer.copy(bigger);
  return bigger;
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
    const other = notRegular(stats);
    if (other) return { error: other };
    if (stats.size > limits.maxBytes) {
      return { error: tooLarge(stats.size, limits.maxBytes, limits.setting ?? '') };
    }
    // Read to the end, not to the size fstat told: a file may grow meanwhile, and some file
    // systems (procfs, FUSE) say 0. Past maxBytes + 1 the answer is known: too large.
    let buffer = Buffer.alloc(Math.min(stats.size, limits.maxBytes) + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length === buffer.length) {
        if (length > limits.maxBytes) break;
        buffer = grown(buffer, limits.maxBytes);
      }
    }
    if (length > limits.maxBytes) return { error: tooLarge(length, limits.maxBytes, limits.setting ?? '') };
    return { text: buffer.toString('utf8', 0, length) };
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
    const other = notRegular(stats);
    if (other) return { error: other };
    if (stats.size > limits.maxBytes) {
      return { error: tooLarge(stats.size, limits.maxBytes, limits.setting ?? '') };
    }
    let buffer = Buffer.alloc(Math.min(stats.size, limits.maxBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) {
        if (length > limits.maxBytes) break;
        buffer = grown(buffer, limits.maxBytes);
      }
    }
    if (length > limits.maxBytes) return { error: tooLarge(length, limits.maxBytes, limits.setting ?? '') };
    return { text: buffer.toString('utf8', 0, length) };
  } catch (err) {
    return { error: describeReadError(err) };
  } finally {
    await handle.close().catch(() => {});
  }
}
