import type { RateLimit } from '../config/types.js';

/** Refills are sums of fractions: a token due now may add up to a hair below 1. */
const epsilon = 1e-9;
const whole = 1 - epsilon;

/**
 * A route's rate limit: a bucket of at most `burst` tokens, refilled continuously at `rate` per
 * `perMs`, full at the start. Each delivery started takes one. Pure: every call is given the time
 * (a monotonic clock in milliseconds), so tests drive it with their own.
 */
export class TokenBucket {
  #policy: RateLimit;
  #msPerToken: number;
  #tokens: number;
  #at: number;

  constructor(policy: RateLimit, now: number) {
    this.#policy = policy;
    this.#msPerToken = policy.perMs / policy.rate;
    this.#tokens = policy.burst;
    this.#at = now;
  }

  get policy(): RateLimit {
    return this.#policy;
  }

  /** A new policy (a reload): the tokens earned so far are kept, up to the new burst. */
  update(policy: RateLimit, now: number): void {
    this.#refill(now);
    this.#policy = policy;
    this.#msPerToken = policy.perMs / policy.rate;
    this.#tokens = Math.min(this.#tokens, policy.burst);
  }

  /** Takes a token when there is one. */
  tryTake(now: number): boolean {
    this.#refill(now);
    if (this.#tokens < whole) return false;
    this.#tokens = Math.max(0, this.#tokens - 1);
    return true;
  }

  /** Milliseconds until the next whole token; 0 when there is one now. */
  msUntilToken(now: number): number {
    this.#refill(now);
    if (this.#tokens >= whole) return 0;
    return Math.max(1, Math.ceil((1 - this.#tokens) * this.#msPerToken - epsilon));
  }

  /** Tokens available now (whole and partial). */
  tokens(now: number): number {
    this.#refill(now);
    return this.#tokens;
  }

  #refill(now: number): void {
    if (now <= this.#at) return;
    this.#tokens = Math.min(this.#policy.burst, this.#tokens + (now - this.#at) / this.#msPerToken);
    this.#at = now;
  }
}
