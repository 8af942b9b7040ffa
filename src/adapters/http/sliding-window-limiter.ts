import { CallWindow } from './call-window';

/** Options of {@link SlidingWindowLimiter}. */
export interface SlidingWindowLimiterOptions {
  /** At most this many calls in any window. */
  limit: number;
  /** Window length; default 60 s (S-360 counts calls per minute). */
  windowMs?: number;
  /** Monotonic clock in milliseconds; default `performance.now()`. Tests pass a fake one. */
  now?: () => number;
}

/** Ends a call: from this moment its slot stays taken for one more window. */
export type ReleaseSlot = () => void;

interface Waiter {
  resolve(release: ReleaseSlot): void;
  reject(reason: unknown): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * Keeps calls to a remote system under "at most N calls in any sliding window", the way S-360 counts them, so that
 * its limit is never hit. One instance per process holds the whole S-360 budget; waiters are served in order.
 *
 * A call holds its slot from {@link acquire} until its release plus one window. The server sees each request
 * somewhere between those two instants, so whatever the network latency, no window of the server's ever holds
 * more than N requests. Callers release when the response (or the error) arrives.
 */
export class SlidingWindowLimiter {
  /** The limit set at construction or by {@link setLimit}: what a temporary raise returns to. */
  private baseLimit: number;
  private raise: { limit: number; untilMs: number; timer: NodeJS.Timeout } | undefined;
  private readonly windowMs: number;
  private readonly now: () => number;
  /** Release times of finished calls still inside the window, oldest first. */
  private readonly released: CallWindow;
  private inFlight = 0;
  private readonly waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;

  constructor(options: SlidingWindowLimiterOptions) {
    this.baseLimit = checkLimit(options.limit);
    this.windowMs = options.windowMs ?? 60_000;
    if (!(this.windowMs > 0)) throw new RangeError(`windowMs must be positive, got ${this.windowMs}`);
    this.now = options.now ?? (() => performance.now());
    this.released = new CallWindow(this.windowMs);
  }

  /** The current N: a raised limit while it lasts, else the base one. */
  get limit(): number {
    return this.currentLimit;
  }

  private get currentLimit(): number {
    if (this.raise && this.now() >= this.raise.untilMs) this.endRaise();
    return this.raise ? Math.max(this.raise.limit, this.baseLimit) : this.baseLimit;
  }

  /** Calls started and not released, plus released calls still inside the window. */
  get used(): number {
    this.expire();
    return this.inFlight + this.released.size;
  }

  /** Changes N at run time (an operator re-rates the sync); waiters are served at once if the limit grew. */
  setLimit(limit: number): void {
    this.baseLimit = checkLimit(limit);
    this.drain();
  }

  /**
   * Allows up to `limit` calls per window for the next `forMs` milliseconds (the remote system raised its limit
   * for a while), then returns by itself to the base limit. A later call replaces the raise; a limit at or below
   * the base one, or a `forMs` of 0, ends it. Waiters are served at once if the limit grew.
   */
  allowFor(limit: number, forMs: number): void {
    checkLimit(limit);
    if (!(forMs >= 0)) throw new RangeError(`forMs must be a duration in milliseconds, got ${forMs}`);
    this.endRaise();
    if (limit > this.baseLimit && forMs > 0) {
      const timer = setTimeout(() => {
        this.endRaise();
        this.drain();
      }, Math.ceil(forMs));
      // A raise never keeps the process alive on its own.
      timer.unref?.();
      this.raise = { limit, untilMs: this.now() + forMs, timer };
    }
    this.drain();
  }

  private endRaise(): void {
    if (!this.raise) return;
    clearTimeout(this.raise.timer);
    this.raise = undefined;
  }

  /**
   * Waits for a slot, first come first served, and returns the function that ends the call. Rejects with the
   * signal's reason if `signal` aborts first.
   */
  acquire(signal?: AbortSignal): Promise<ReleaseSlot> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) this.waiters.splice(index, 1);
          reject(abortReason(signal));
          // The aborted waiter may have been the head holding the others back.
          this.drain();
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
      this.drain();
    });
  }

  /** Runs `call` inside a slot, releasing it when the call settles. */
  async schedule<T>(call: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await call();
    } finally {
      release();
    }
  }

  private drain(): void {
    this.expire();
    while (this.waiters.length > 0 && this.inFlight + this.released.size < this.currentLimit) {
      const waiter = this.waiters.shift() as Waiter;
      if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener('abort', waiter.onAbort);
      this.inFlight += 1;
      waiter.resolve(this.releaser());
    }
    this.armTimer();
  }

  private releaser(): ReleaseSlot {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inFlight -= 1;
      this.released.record(this.now());
      this.drain();
    };
  }

  private expire(): void {
    this.released.expire(this.now());
  }

  /** Arms a timer for when enough released slots leave the window for the head waiter to proceed. */
  private armTimer(): void {
    if (this.waiters.length === 0) {
      this.clearTimer();
      return;
    }
    const excess = this.inFlight + this.released.size - this.currentLimit;
    // Slots held by running calls free up on release, which drains again; only released slots expire by time.
    const freeing = this.released.at(excess);
    if (excess < 0 || freeing === undefined) {
      this.clearTimer();
      return;
    }
    const at = freeing + this.windowMs;
    if (this.timer && this.timerAt === at) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.drain();
      },
      Math.max(0, Math.ceil(at - this.now())),
    );
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }
}

function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`limit must be a positive integer, got ${limit}`);
  return limit;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}
