/**
 * Spans the event loop could not hand to the export thread, counted and said as one line at most
 * once a minute: the first at once, those that follow within the minute when it ends (on a timer
 * that never keeps Warren alive), and what is left when tracing stops. Each line says how many, and
 * why: the thread so far behind that the ring is full, or a span larger than the ring itself.
 */
export class DroppedSpans {
  #behind = 0;
  #tooLarge = 0;
  #saidAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly say: (line: string) => void,
    private readonly ringMiB: number,
    private readonly quietMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  add(tooLarge: boolean): void {
    if (tooLarge) this.#tooLarge++;
    else this.#behind++;
    if (this.#timer !== undefined) return;
    const wait = this.#saidAt + this.quietMs - this.now();
    if (wait <= 0) this.flush();
    else this.#timer = setTimeout(() => this.flush(), wait).unref();
  }

  /** Says what was counted since the last line, if anything. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const parts: string[] = [];
    if (this.#behind > 0)
      parts.push(`${this.#behind} because the export thread was ${this.ringMiB} MiB of spans behind`);
    if (this.#tooLarge > 0) parts.push(`${this.#tooLarge} larger than those ${this.ringMiB} MiB each`);
    if (parts.length === 0) return;
    this.say(`dropped spans: ${parts.join('; ')}`);
    this.#behind = 0;
    this.#tooLarge = 0;
    this.#saidAt = this.now();
  }
}
