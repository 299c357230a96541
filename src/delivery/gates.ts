import type { Logger } from 'pino';
import type { CircuitPolicy, RateLimit } from '../config/types.js';
import type { Handler } from '../targets/types.js';
import { events } from '../telemetry/events.js';
import type { RoutePlan } from '../topology/plan.js';
import { ByteBudget } from './byte-budget.js';
import { CircuitBreaker, type CircuitState } from './circuit.js';
import { TokenBucket } from './token-bucket.js';

/** `admit` answers: hold the delivery, or start it; a probe is started with its epoch (> 0). */
export const held = -1;
export const admitted = 0;

type GatedPlan = Pick<RoutePlan, 'rateLimit' | 'target' | 'maxInFlightBytes'>;

/** The route's circuit policy: webhook targets only, unless `circuit: false`. */
export function circuitOf(plan: GatedPlan): CircuitPolicy | undefined {
  return plan.target.kind === 'webhook' ? plan.target.circuit : undefined;
}

export interface GatesDescription {
  /** The in-flight byte budget: its limit, the body bytes and deliveries started and not settled. */
  byteBudget: { maxInFlightBytes: number; bytes: number; deliveries: number };
  rateLimit?: RateLimit & { tokens: number };
  circuit?: {
    state: CircuitState;
    /** When it entered that state (ISO time). */
    since: string;
    /** Closed: requests and failures in the current window. */
    requests: number;
    failures: number;
  };
}

/**
 * What decides when a route may start its next delivery: its webhook circuit breaker, its in-flight
 * byte budget and its rate limit (a token bucket). One per route, kept across reloads: a handler
 * swap reconfigures it in place, so tokens, circuit state and the bytes of deliveries still running
 * (an old version's included) carry over (a new webhook URL starts a closed circuit).
 *
 * A consumer asks `admit` before starting a waiting delivery. When the answer is `held`, the
 * consumer's `wake` is called once something may have changed: one timer for the next token, one for
 * the end of the cooldown, or a circuit transition. Nothing polls, and nothing happens per delivery
 * beyond a few comparisons.
 */
export class RouteGates {
  readonly #route: string;
  readonly #log: Logger;
  readonly #clock: () => number;
  #bucket: TokenBucket | undefined;
  /** Limitless until the first `configure`; releases always land here, whatever version took. */
  readonly #budget = new ByteBudget(Number.POSITIVE_INFINITY);
  #breaker: CircuitBreaker | undefined;
  /** The webhook URL the circuit is about: a different one starts a new, closed circuit. */
  #circuitUrl: string | undefined;
  readonly #wakers = new Set<() => void>();
  #tokenTimer: NodeJS.Timeout | undefined;
  #cooldownTimer: NodeJS.Timeout | undefined;
  #throttled = false;
  #budgetHeld = false;
  #waking = false;

  constructor(route: string, log: Logger, clock: () => number = () => performance.now()) {
    this.#route = route;
    this.#log = log;
    this.#clock = clock;
  }

  /** Adopts a route version's rate limit and circuit policy, and lets held deliveries try again. */
  configure(plan: GatedPlan): void {
    const now = this.#clock();
    this.#clearTokenTimer();
    if (plan.rateLimit === undefined) this.#bucket = undefined;
    else if (this.#bucket === undefined) this.#bucket = new TokenBucket(plan.rateLimit, now);
    else this.#bucket.update(plan.rateLimit, now);
    this.#budget.update(plan.maxInFlightBytes);

    const policy = circuitOf(plan);
    const url = plan.target.kind === 'webhook' ? plan.target.url : undefined;
    const previous = this.#breaker;
    if (policy === undefined) {
      if (previous !== undefined && previous.state !== 'closed') {
        events.circuitChanged(this.#log, this.#route, previous.state, 'closed', 'the circuit was turned off');
      }
      this.#dropCircuit();
    } else if (previous !== undefined && url === this.#circuitUrl) {
      previous.update(policy);
      if (previous.state === 'open') this.#scheduleCooldown();
    } else {
      this.#dropCircuit();
      // Only the current breaker reports: one replaced by a reload may still hear from requests
      // that started before it, and must not touch the timers or the metric of the new one.
      const breaker: CircuitBreaker = new CircuitBreaker(policy, now, (from, to, detail) => {
        if (this.#breaker === breaker) this.#changed(from, to, detail);
      });
      this.#breaker = breaker;
      this.#circuitUrl = url;
      events.circuitTracked(this.#route, true);
      if (previous !== undefined && previous.state !== 'closed') {
        events.circuitChanged(this.#log, this.#route, previous.state, 'closed', 'the webhook URL changed');
      }
    }
    if (this.#bucket === undefined) this.#endThrottle();
    this.#wakeAll();
  }

  /**
   * May the next delivery, of `bytes` body bytes, start? `held`: not now, and `wake` is called when
   * it may be worth asking again. Otherwise its bytes, the token (and the probe) are taken:
   * `admitted`, or the probe's epoch. Either way the consumer hands `bytes` (and the epoch) to
   * `settled` once that delivery finished.
   */
  admit(wake: () => void, bytes: number): number {
    const breaker = this.#breaker;
    let probe = false;
    if (breaker !== undefined && breaker.state !== 'closed') {
      const permit = breaker.permit(this.#clock());
      if (permit === 'wait') {
        // Held by the circuit, not by the rate limit or the budget.
        this.#endThrottle();
        this.#endBudgetHold();
        this.#wakers.add(wake);
        return held;
      }
      probe = permit === 'probe';
    }
    // The budget before the bucket: a delivery it holds must not spend a token. Woken by `settled`.
    if (!this.#budget.fits(bytes)) {
      this.#endThrottle();
      this.#startBudgetHold();
      this.#wakers.add(wake);
      return held;
    }
    const bucket = this.#bucket;
    if (bucket !== undefined) {
      const now = this.#clock();
      if (!bucket.tryTake(now)) {
        this.#endBudgetHold();
        this.#startThrottle();
        this.#wakers.add(wake);
        this.#tokenTimer ??= setTimeout(this.#tokenDue, bucket.msUntilToken(now)).unref();
        return held;
      }
    }
    this.#endThrottle();
    this.#endBudgetHold();
    this.#budget.take(bytes);
    events.bytesTaken(this.#route, bytes);
    return probe ? breaker!.probeStarted() : admitted;
  }

  /**
   * A delivery admitted with `bytes` (and `admission`) settled: acked, its copy confirmed, requeued,
   * or abandoned to a closed channel. Its bytes go back to the budget, and held deliveries may try.
   */
  settled(bytes: number, admission: number): void {
    this.#budget.release(bytes);
    events.bytesReleased(this.#route, bytes);
    if (admission !== admitted) this.#breaker?.probeEnded(admission);
    this.#wakeAll();
  }

  /** The consumer holds no delivery any more (stopped, channel closed, gates swapped away). */
  release(wake: () => void): void {
    this.#wakers.delete(wake);
    if (this.#wakers.size === 0) {
      this.#endThrottle();
      this.#endBudgetHold();
    }
  }

  /**
   * The webhook handler, reporting each request's outcome to the circuit: an outcome to retry
   * (timeout, connection error, 408, 429, 5xx, `retryOn`) is the receiver failing; an ack or a
   * dead letter (4xx: the receiver answered) is not; a request never sent is neither.
   */
  observe(handler: Handler): Handler {
    const gates = this;
    return function deliverObserved(d) {
      const breaker = gates.#breaker;
      if (breaker === undefined) return handler(d);
      const epoch = breaker.epoch;
      return handler(d).then((outcome) => {
        // A dead letter without a status sent no request (a CloudEvent without `type`): the
        // receiver said nothing, so it counts neither way (and a probe passes to the next one).
        // And a request that started under a breaker a reload has since replaced or removed
        // (a new URL, `circuit: false`) is not the new one's business.
        const sent = outcome.kind !== 'dead-letter' || outcome.status !== undefined;
        if (sent && gates.#breaker === breaker)
          breaker.record(outcome.kind === 'retry', epoch, gates.#clock());
        return outcome;
      });
    };
  }

  /** The circuit's state, for `/api/routes`. */
  get circuitState(): CircuitState | undefined {
    return this.#breaker?.state;
  }

  describe(): GatesDescription {
    const now = this.#clock();
    const budget = this.#budget;
    const out: GatesDescription = {
      byteBudget: { maxInFlightBytes: budget.limit, bytes: budget.inFlight, deliveries: budget.deliveries },
    };
    if (this.#bucket !== undefined) {
      out.rateLimit = { ...this.#bucket.policy, tokens: Math.floor(this.#bucket.tokens(now)) };
    }
    const breaker = this.#breaker;
    if (breaker !== undefined) {
      out.circuit = {
        state: breaker.state,
        since: new Date(breaker.since).toISOString(),
        ...breaker.window(now),
      };
    }
    return out;
  }

  /** The route is gone: no timer may outlive it. `untrack`: its circuit metric goes too. Deliveries
   * still running settle here as ever (their bytes were counted, so they are released). */
  dispose(untrack = true): void {
    this.#clearTokenTimer();
    clearTimeout(this.#cooldownTimer);
    this.#cooldownTimer = undefined;
    if (untrack && this.#breaker !== undefined) events.circuitTracked(this.#route, false);
    this.#breaker = undefined;
    this.#bucket = undefined;
    this.#wakers.clear();
    this.#endThrottle();
    this.#endBudgetHold();
  }

  readonly #changed = (from: CircuitState, to: CircuitState, detail: string): void => {
    events.circuitChanged(this.#log, this.#route, from, to, detail);
    if (to === 'open') {
      this.#scheduleCooldown();
      return;
    }
    clearTimeout(this.#cooldownTimer);
    this.#cooldownTimer = undefined;
    this.#wakeAll();
  };

  /** One timer per open period, so the circuit turns half-open on time even when nothing waits. */
  #scheduleCooldown(): void {
    clearTimeout(this.#cooldownTimer);
    const breaker = this.#breaker!;
    // Timers run on a millisecond clock and may fire a fraction early: ask again if so.
    const ms = Math.max(1, Math.ceil(breaker.probeAt - this.#clock()));
    this.#cooldownTimer = setTimeout(this.#cooldownOver, ms).unref();
  }

  readonly #cooldownOver = (): void => {
    this.#cooldownTimer = undefined;
    const breaker = this.#breaker;
    if (breaker === undefined || breaker.state !== 'open') return;
    if (!breaker.advance(this.#clock())) this.#scheduleCooldown(); // half-open wakes everyone
  };

  readonly #tokenDue = (): void => {
    this.#tokenTimer = undefined;
    this.#wakeAll();
  };

  /** Wakes the held consumers in a microtask, never from inside `admit` or a handler's outcome:
   * a consumer woken while it is asking would start deliveries under its own feet. */
  #wakeAll(): void {
    if (this.#wakers.size === 0 || this.#waking) return;
    this.#waking = true;
    queueMicrotask(this.#wake);
  }

  readonly #wake = (): void => {
    this.#waking = false;
    const wakers = [...this.#wakers];
    this.#wakers.clear();
    for (const wake of wakers) wake();
  };

  #dropCircuit(): void {
    if (this.#breaker === undefined) return;
    clearTimeout(this.#cooldownTimer);
    this.#cooldownTimer = undefined;
    this.#breaker = undefined;
    this.#circuitUrl = undefined;
    events.circuitTracked(this.#route, false);
  }

  #clearTokenTimer(): void {
    clearTimeout(this.#tokenTimer);
    this.#tokenTimer = undefined;
  }

  #startThrottle(): void {
    if (this.#throttled) return;
    this.#throttled = true;
    events.throttleStarted(this.#route);
  }

  #endThrottle(): void {
    if (!this.#throttled) return;
    this.#throttled = false;
    events.throttleEnded(this.#route);
  }

  #startBudgetHold(): void {
    if (this.#budgetHeld) return;
    this.#budgetHeld = true;
    events.budgetHoldStarted(this.#route);
  }

  #endBudgetHold(): void {
    if (!this.#budgetHeld) return;
    this.#budgetHeld = false;
    events.budgetHoldEnded(this.#route);
  }
}
