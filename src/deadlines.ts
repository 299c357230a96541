/** Something with a deadline (a webhook call, a publish awaiting its confirm), linked into one `Deadlines` list from start until it settles. */
export abstract class Expiring {
  deadline = 0;
  prev: Expiring | undefined;
  next: Expiring | undefined;
  /** Called once, when the deadline passed before `Deadlines.remove`. */
  abstract expire(): void;
}

/**
 * The deadlines of calls that all share one timeout (one route's webhook calls, one publisher's confirms): their deadlines fall in start
 * order, so a list in start order has the earliest at its head and one timer, armed for the head,
 * serves them all. A setTimeout/clearTimeout pair per call showed in profiles at close to a
 * microsecond per delivery; adding and removing here is a few pointer writes.
 */
export class Deadlines {
  readonly #timeoutMs: number;
  #head: Expiring | undefined;
  #tail: Expiring | undefined;
  /** Armed for the head's deadline or an earlier one (of an item that has settled since). */
  #timer: NodeJS.Timeout | undefined;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  add(item: Expiring): void {
    item.deadline = performance.now() + this.#timeoutMs;
    item.prev = this.#tail;
    item.next = undefined;
    if (this.#tail) this.#tail.next = item;
    else this.#head = item;
    this.#tail = item;
    if (this.#timer === undefined) this.#arm(item.deadline);
  }

  /** Takes a settled item out; safe to call more than once. */
  remove(item: Expiring): void {
    if (item.prev) item.prev.next = item.next;
    else if (this.#head === item) this.#head = item.next;
    else return; // not linked
    if (item.next) item.next.prev = item.prev;
    else this.#tail = item.prev;
    item.prev = undefined;
    item.next = undefined;
    // Nothing left to watch: no timer may keep the process up.
    if (this.#head === undefined && this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #arm(at: number): void {
    this.#timer = setTimeout(this.#fire, Math.max(1, Math.ceil(at - performance.now())));
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    while (this.#head !== undefined && this.#head.deadline <= now) {
      const item = this.#head;
      this.remove(item);
      item.expire();
    }
    // The timer was armed for an item that settled early or just expired: now for the new head.
    if (this.#head !== undefined && this.#timer === undefined) this.#arm(this.#head.deadline);
  };
}
