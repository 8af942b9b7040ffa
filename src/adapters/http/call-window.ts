/**
 * The times of the calls made within the last `windowMs`, oldest first: what the S-360 budget limiter counts its
 * released slots with, and the S-360 sandbox its rate limit and busiest minute. Recording a call and expiring the
 * old ones cost O(1) amortised, whatever the rate: at 100,000 calls per minute (the benchmarks' budget) the window
 * holds tens of thousands of calls, where filtering a copy of it on every call cost the sandbox milliseconds per
 * call, and `Array.shift` copies the whole array once it is that long.
 */
export class CallWindow {
  private times: number[] = [];
  /** Index of the oldest time still in the window; the times before it have expired. */
  private head = 0;

  constructor(private readonly windowMs: number) {}

  /** Calls within the window ending at `now`. */
  count(now: number): number {
    this.expire(now);
    return this.size;
  }

  /** The oldest call within the window ending at `now`, if any. */
  oldest(now: number): number | undefined {
    this.expire(now);
    return this.at(0);
  }

  /** Calls left by the last {@link expire}. */
  get size(): number {
    return this.times.length - this.head;
  }

  /** The `index`-th oldest call left by the last {@link expire} (0: the oldest), if there are that many. */
  at(index: number): number | undefined {
    return index >= 0 ? this.times[this.head + index] : undefined;
  }

  record(now: number): void {
    this.times.push(now);
  }

  clear(): void {
    this.times = [];
    this.head = 0;
  }

  /**
   * Drops the calls at or before `now - windowMs`. Times are recorded in order; a clock stepping back leaves a
   * later time before an earlier one, which then expires with the later one (a little late, never early).
   */
  expire(now: number): void {
    const cutoff = now - this.windowMs;
    while (this.head < this.times.length && (this.times[this.head] as number) <= cutoff) this.head += 1;
    // The expired times are dropped in one copy once they are half the array: amortised O(1) per call.
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }
}
