import { SlidingWindowLimiter, type ReleaseSlot } from '../../../src/adapters/http/sliding-window-limiter';

const windowMs = 60_000;

/** Resolves after the microtask queue settles, to observe which acquisitions went through. */
async function flush(): Promise<void> {
  await jest.advanceTimersByTimeAsync(0);
}

function track(promise: Promise<ReleaseSlot>): { release?: ReleaseSlot; error?: unknown } {
  const state: { release?: ReleaseSlot; error?: unknown } = {};
  promise.then(
    (release) => (state.release = release),
    (error: unknown) => (state.error = error),
  );
  return state;
}

describe('SlidingWindowLimiter', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  const create = (limit: number) => new SlidingWindowLimiter({ limit, windowMs, now: () => Date.now() });

  it('grants N slots at once and the next one a window after the first release', async () => {
    const limiter = create(3);
    const first = [track(limiter.acquire()), track(limiter.acquire()), track(limiter.acquire())];
    const fourth = track(limiter.acquire());
    await flush();
    expect(first.every((slot) => slot.release)).toBe(true);
    expect(fourth.release).toBeUndefined();

    first[0]?.release?.();
    await jest.advanceTimersByTimeAsync(5_000);
    first[1]?.release?.();
    first[2]?.release?.();
    await jest.advanceTimersByTimeAsync(windowMs - 5_000 - 1);
    expect(fourth.release).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(fourth.release).toBeDefined();
    expect(limiter.used).toBe(3);
  });

  it('keeps a slot of a call still running, and counts its window from the release', async () => {
    const limiter = create(1);
    const running = track(limiter.acquire());
    const next = track(limiter.acquire());
    await jest.advanceTimersByTimeAsync(3 * windowMs);
    expect(next.release).toBeUndefined();
    running.release?.();
    await jest.advanceTimersByTimeAsync(windowMs - 1);
    expect(next.release).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(next.release).toBeDefined();
  });

  it('serves waiters first come, first served', async () => {
    const limiter = create(1);
    const order: number[] = [];
    const first = await limiter.acquire();
    const waiting = [1, 2, 3].map((n) =>
      limiter.acquire().then((release) => {
        order.push(n);
        release();
      }),
    );
    first();
    await jest.advanceTimersByTimeAsync(3 * windowMs);
    await Promise.all(waiting);
    expect(order).toEqual([1, 2, 3]);
  });

  it('releasing twice frees one slot only', async () => {
    const limiter = create(2);
    const release = await limiter.acquire();
    release();
    release();
    expect(limiter.used).toBe(1);
  });

  it('serves waiters at once when the limit is raised, and holds new calls when it is lowered', async () => {
    const limiter = create(1);
    await limiter.acquire();
    const waiting = [track(limiter.acquire()), track(limiter.acquire())];
    await flush();
    expect(waiting.some((slot) => slot.release)).toBe(false);

    limiter.setLimit(3);
    await flush();
    expect(limiter.limit).toBe(3);
    expect(waiting.every((slot) => slot.release)).toBe(true);

    limiter.setLimit(2);
    const held = track(limiter.acquire());
    waiting[0]?.release?.();
    await flush();
    // 3 used (one running, two released), limit 2: held until both released slots leave the window.
    expect(held.release).toBeUndefined();
    waiting[1]?.release?.();
    await jest.advanceTimersByTimeAsync(windowMs - 1);
    expect(held.release).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(held.release).toBeDefined();
    expect(limiter.used).toBe(2);
  });

  it('allows a raised limit for a while, then returns to the base limit by itself', async () => {
    const limiter = create(2);
    const first = [track(limiter.acquire()), track(limiter.acquire())];
    const third = track(limiter.acquire());
    await flush();
    expect(third.release).toBeUndefined();

    limiter.allowFor(4, 10_000);
    await flush();
    expect(limiter.limit).toBe(4);
    expect(third.release).toBeDefined();
    const fourth = track(limiter.acquire());
    await flush();
    expect(fourth.release).toBeDefined();

    await jest.advanceTimersByTimeAsync(10_000);
    expect(limiter.limit).toBe(2);
    for (const slot of [...first, third, fourth]) slot.release?.();
    const afterRaise = track(limiter.acquire());
    await jest.advanceTimersByTimeAsync(windowMs - 1);
    // 4 calls released within the window, base limit 2: held until they leave it.
    expect(afterRaise.release).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(afterRaise.release).toBeDefined();
  });

  it('replaces a raise by a later one, never goes below the base limit, and keeps setLimit as the base', async () => {
    const limiter = create(3);
    limiter.allowFor(10, 60_000);
    limiter.allowFor(5, 5_000);
    expect(limiter.limit).toBe(5);
    limiter.setLimit(6);
    expect(limiter.limit).toBe(6);
    limiter.allowFor(8, 5_000);
    await jest.advanceTimersByTimeAsync(5_000);
    expect(limiter.limit).toBe(6);
    limiter.allowFor(2, 5_000);
    expect(limiter.limit).toBe(6);
    expect(() => limiter.allowFor(0, 1_000)).toThrow(RangeError);
    expect(() => limiter.allowFor(5, -1)).toThrow(RangeError);
  });

  it('rejects a waiter whose signal aborts, and lets the next one through', async () => {
    const limiter = create(1);
    const first = await limiter.acquire();
    const controller = new AbortController();
    const aborted = track(limiter.acquire(controller.signal));
    const next = track(limiter.acquire());
    controller.abort(new Error('cancelled'));
    await flush();
    expect(aborted.error).toEqual(new Error('cancelled'));
    first();
    await jest.advanceTimersByTimeAsync(windowMs);
    expect(next.release).toBeDefined();
    await expect(limiter.acquire(AbortSignal.abort(new Error('already')))).rejects.toThrow('already');
  });

  it('rejects limits that are not positive integers', () => {
    expect(() => create(0)).toThrow(RangeError);
    expect(() => create(1).setLimit(2.5)).toThrow(RangeError);
  });

  it('never lets more than N calls overlap any window, whatever the latencies', async () => {
    const limit = 5;
    const limiter = create(limit);
    const calls: Array<{ start: number; end: number }> = [];
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const runs = Array.from({ length: 40 }, async () => {
      await jest.advanceTimersByTimeAsync(Math.floor(random() * 1000));
      await limiter.schedule(async () => {
        const start = Date.now();
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 20_000)));
        calls.push({ start, end: Date.now() });
      });
    });
    await jest.advanceTimersByTimeAsync(20 * windowMs);
    await Promise.all(runs);
    expect(calls).toHaveLength(40);
    // The server sees a call anywhere in [start, end]: count calls that could fall in the window ending at t.
    for (const { start: t } of calls) {
      const overlapping = calls.filter((call) => call.start <= t && call.end > t - windowMs);
      expect(overlapping.length).toBeLessThanOrEqual(limit);
    }
  });
});
