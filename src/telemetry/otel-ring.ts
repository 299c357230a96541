/**
 * The spans on their way from Warren's event loop to the export thread: a ring of shared memory,
 * one writer (the event loop, as each span ends) and one reader (the export thread, every 25 ms).
 * Writing a span is a copy of its bytes and one atomic store: no message, no wake-up, no
 * lock. A postMessage a batch cost the event loop some 300 µs each in a traced drain, about 3 µs a
 * delivery.
 *
 * A record is its length (uint32, little-endian) and its bytes; a length of 0xffffffff marks the
 * rest of the ring unused (the next record is at 0). The ring holds the bytes from `read` to
 * `write`; it is empty when they are equal, so the writer always leaves one byte free. When there is
 * no room the span is not written: the export thread is that far behind, and the writer counts it
 * as dropped.
 */

/** Room for some 13,000 of Warren's spans (~300 bytes each): more than half a second at full speed. */
export const ringBytes = 4 * 1024 * 1024;

const writeAt = 0;
const readAt = 1;
const wrapMark = 0xffffffff;

export interface RingMemory {
  /** Int32: [write, read]. */
  control: SharedArrayBuffer;
  data: SharedArrayBuffer;
}

export function newRing(bytes = ringBytes): RingMemory {
  return { control: new SharedArrayBuffer(8), data: new SharedArrayBuffer(bytes) };
}

export class RingWriter {
  readonly #control: Int32Array;
  readonly #data: Uint8Array;
  readonly #view: DataView;
  readonly #size: number;
  #write = 0;

  constructor(memory: RingMemory) {
    this.#control = new Int32Array(memory.control);
    this.#data = new Uint8Array(memory.data);
    this.#view = new DataView(memory.data);
    this.#size = this.#data.length;
  }

  /** Copies `bytes[0, length)` in as one record; false when there is no room. */
  put(bytes: Uint8Array, length: number): boolean {
    const need = 4 + length;
    const read = Atomics.load(this.#control, readAt);
    let at = this.#write;
    // Every record leaves 4 bytes before the end for a wrap mark, so `at` is never past size - 4.
    if (at >= read) {
      if (this.#size - at < need + 4) {
        if (read - 1 < need) return false;
        this.#view.setUint32(at, wrapMark, true);
        at = 0;
      }
    } else if (read - at - 1 < need) return false;
    this.#view.setUint32(at, length, true);
    this.#data.set(length === bytes.length ? bytes : bytes.subarray(0, length), at + 4);
    this.#write = at + need;
    Atomics.store(this.#control, writeAt, this.#write);
    return true;
  }
}

export class RingReader {
  readonly #control: Int32Array;
  readonly #data: Uint8Array;
  readonly #view: DataView;

  constructor(memory: RingMemory) {
    this.#control = new Int32Array(memory.control);
    this.#data = new Uint8Array(memory.data);
    this.#view = new DataView(memory.data);
  }

  /**
   * Each record written so far, in order, as a view of a copy of the run of records it came with
   * (one copy a run, not one a record); the room they took is free again after.
   */
  take(each: (bytes: Uint8Array) => void): number {
    let read = Atomics.load(this.#control, readAt);
    const write = Atomics.load(this.#control, writeAt);
    let n = 0;
    while (read !== write) {
      // The run from `read` to the writer's position, or to the wrap mark.
      const start = read;
      let end = start;
      let wrapped = false;
      while (end !== write) {
        const length = this.#view.getUint32(end, true);
        if (length === wrapMark) {
          wrapped = true;
          break;
        }
        end += 4 + length;
      }
      const run = this.#data.slice(start, end);
      const lengths = new DataView(run.buffer);
      for (let at = 0; at < run.length; ) {
        const length = lengths.getUint32(at, true);
        each(run.subarray(at + 4, at + 4 + length));
        at += 4 + length;
        n++;
      }
      read = wrapped ? 0 : end;
    }
    Atomics.store(this.#control, readAt, read);
    return n;
  }
}
