/**
 * A route's in-flight byte budget: the body bytes of the deliveries it has started and not yet
 * settled. A delivery starts when its bytes fit under the limit, or when nothing else is in flight
 * (a message larger than the whole budget runs alone rather than never). Pure bookkeeping: the
 * route's gates decide what waits and when it is woken.
 */
export class ByteBudget {
  #limit: number;
  #inFlight = 0;
  #deliveries = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get limit(): number {
    return this.#limit;
  }

  /** Body bytes of the deliveries started and not yet settled. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Deliveries started and not yet settled. */
  get deliveries(): number {
    return this.#deliveries;
  }

  /** A new limit (a reload). What is in flight stays counted, and is released as it settles. */
  update(limit: number): void {
    this.#limit = limit;
  }

  /** Would a delivery of `bytes` start now? */
  fits(bytes: number): boolean {
    return this.#deliveries === 0 || this.#inFlight + bytes <= this.#limit;
  }

  /** Counts a delivery that starts (whether it fit or not: the caller asked `fits`). */
  take(bytes: number): void {
    this.#inFlight += bytes;
    this.#deliveries++;
  }

  /** A delivery taken with `bytes` settled. */
  release(bytes: number): void {
    this.#inFlight -= bytes;
    this.#deliveries--;
    if (this.#deliveries <= 0) {
      // Nothing in flight means nothing: no drift can outlive an idle moment.
      this.#inFlight = 0;
      this.#deliveries = 0;
    }
  }
}
