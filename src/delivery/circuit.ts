import type { CircuitPolicy } from '../config/types.js';

export type CircuitState = 'closed' | 'open' | 'half-open';

/** What the circuit says about starting the next delivery: start it, start it as the one probe,
 * or hold it. */
export type Permit = 'go' | 'probe' | 'wait';

export type CircuitListener = (from: CircuitState, to: CircuitState, detail: string) => void;

/** The window is kept as this many slices of `windowMs / slices`: a request leaves the window
 * with its slice, so the window spans between 19/20 and all of `windowMs`. */
const slices = 20;

/** Epochs are unique across every circuit of the process, so an outcome can never be taken for
 * one of another circuit that replaced its own (a changed webhook URL). */
let lastEpoch = 0;

/**
 * A webhook target's circuit breaker (pure: every call is given the monotonic time in ms).
 *
 * - closed: every delivery may start. Each finished request is counted in a sliding window; once
 *   it holds at least `minRequests` and the failed share is at least `failureRate`, it opens. It
 *   also opens after `consecutiveFailures` failed requests in a row: a window full of successes
 *   from before an outage would otherwise take as many failures again to tip the rate.
 * - open: no delivery starts for `cooldownMs`; then half-open.
 * - half-open: exactly one delivery (the probe) may start. Its request's outcome closes the circuit
 *   (a fresh window) or opens it again. A probe that never reached the receiver (filtered, dropped
 *   by its transform) hands the probe to the next delivery.
 *
 * An outcome counts only in the state its request started in (its epoch): a request sent before the
 * circuit opened neither reopens it nor decides the probe.
 */
export class CircuitBreaker {
  #policy: CircuitPolicy;
  #state: CircuitState = 'closed';
  /** Monotonic time of the last transition. */
  #since: number;
  /** Wall-clock time of the last transition, for `/api/routes`. */
  #sinceWall = Date.now();
  #epoch = ++lastEpoch;
  #probing = false;
  /** Failed requests since the last success (closed state, current epoch only). */
  #streak = 0;
  readonly #onChange: CircuitListener;
  #sliceMs: number;
  readonly #sliceIds = new Float64Array(slices).fill(-1);
  readonly #requests = new Uint32Array(slices);
  readonly #failures = new Uint32Array(slices);

  constructor(policy: CircuitPolicy, now: number, onChange: CircuitListener = () => {}) {
    this.#policy = policy;
    this.#since = now;
    this.#sliceMs = policy.windowMs / slices;
    this.#onChange = onChange;
  }

  get state(): CircuitState {
    return this.#state;
  }

  get policy(): CircuitPolicy {
    return this.#policy;
  }

  /** Changes at every transition; a request carries the epoch it started in to `record`. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Wall-clock milliseconds of the last transition. */
  get since(): number {
    return this.#sinceWall;
  }

  /** Monotonic time at which an open circuit lets a probe through. */
  get probeAt(): number {
    return this.#since + this.#policy.cooldownMs;
  }

  /** A new policy (a reload of the same target): the state is kept; a new window length starts a
   * fresh window. */
  update(policy: CircuitPolicy): void {
    if (policy.windowMs !== this.#policy.windowMs) {
      this.#sliceMs = policy.windowMs / slices;
      this.#clearWindow();
    }
    this.#policy = policy;
  }

  permit(now: number): Permit {
    if (this.#state === 'closed') return 'go';
    if (this.#state === 'open' && !this.advance(now)) return 'wait';
    return this.#probing ? 'wait' : 'probe';
  }

  /** Open → half-open once the cooldown passed; true when the circuit is half-open now. */
  advance(now: number): boolean {
    if (this.#state === 'open' && now >= this.probeAt) {
      this.#enter('half-open', now, `cooldown of ${this.#policy.cooldownMs}ms over: one probe goes through`);
    }
    return this.#state === 'half-open';
  }

  /** The probe `permit` allowed is starting; returns its epoch, for `probeEnded`. */
  probeStarted(): number {
    this.#probing = true;
    return this.#epoch;
  }

  /** The probe's delivery finished. Had it decided, the epoch moved on; otherwise it never reached
   * the receiver and the next delivery may probe. True when the probe was handed on. */
  probeEnded(epoch: number): boolean {
    if (this.#state !== 'half-open' || epoch !== this.#epoch || !this.#probing) return false;
    this.#probing = false;
    return true;
  }

  /** One finished request: `failed` when the receiver failed it (an outcome to retry). */
  record(failed: boolean, epoch: number, now: number): void {
    if (epoch !== this.#epoch) return;
    if (this.#state === 'half-open') {
      if (failed)
        this.#enter('open', now, `the probe failed; holding deliveries for ${this.#policy.cooldownMs}ms`);
      else this.#enter('closed', now, 'the probe succeeded');
      return;
    }
    if (this.#state !== 'closed') return;
    const slot = this.#slot(now);
    this.#requests[slot]!++;
    if (!failed) {
      this.#streak = 0;
      return;
    }
    this.#failures[slot]!++;
    if (++this.#streak >= this.#policy.consecutiveFailures) {
      this.#enter(
        'open',
        now,
        `${this.#streak} requests in a row failed; holding deliveries for ${this.#policy.cooldownMs}ms`,
      );
      return;
    }
    const { requests, failures } = this.window(now);
    if (requests >= this.#policy.minRequests && failures >= this.#policy.failureRate * requests) {
      this.#enter(
        'open',
        now,
        `${failures} of the last ${requests} requests failed; holding deliveries for ${this.#policy.cooldownMs}ms`,
      );
    }
  }

  /** Requests and failures in the window (closed state; an open circuit starts a fresh window). */
  window(now: number): { requests: number; failures: number } {
    const current = Math.floor(now / this.#sliceMs);
    let requests = 0;
    let failures = 0;
    for (let i = 0; i < slices; i++) {
      if (this.#sliceIds[i]! > current - slices) {
        requests += this.#requests[i]!;
        failures += this.#failures[i]!;
      }
    }
    return { requests, failures };
  }

  #slot(now: number): number {
    const id = Math.floor(now / this.#sliceMs);
    const slot = id % slices;
    if (this.#sliceIds[slot] !== id) {
      this.#sliceIds[slot] = id;
      this.#requests[slot] = 0;
      this.#failures[slot] = 0;
    }
    return slot;
  }

  #clearWindow(): void {
    this.#sliceIds.fill(-1);
    this.#requests.fill(0);
    this.#failures.fill(0);
  }

  #enter(state: CircuitState, now: number, detail: string): void {
    const from = this.#state;
    this.#state = state;
    this.#since = now;
    this.#sinceWall = Date.now();
    this.#epoch = ++lastEpoch;
    this.#probing = false;
    this.#streak = 0;
    this.#clearWindow();
    this.#onChange(from, state, detail);
  }
}
