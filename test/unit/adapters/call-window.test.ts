import { CallWindow } from '../../../src/adapters/http/call-window';

describe('CallWindow', () => {
  it('counts the calls of the last window, a call leaving it exactly one window after it was made', () => {
    const window = new CallWindow(60_000);
    window.record(1_000);
    window.record(2_000);
    window.record(30_000);
    expect(window.count(30_000)).toBe(3);
    expect(window.oldest(30_000)).toBe(1_000);
    expect(window.count(60_999)).toBe(3);
    expect(window.count(61_000)).toBe(2);
    expect(window.oldest(61_000)).toBe(2_000);
    expect(window.count(90_000)).toBe(0);
    expect(window.oldest(90_000)).toBeUndefined();
  });

  it('keeps counting right over many windows of many calls (the expired ones dropped along the way)', () => {
    const window = new CallWindow(1_000);
    // 10 calls per ms for 5 s: always 10,000 calls in the window once it is full.
    for (let now = 0; now < 5_000; now += 1) {
      for (let call = 0; call < 10; call += 1) window.record(now);
      expect(window.count(now)).toBe(Math.min(now + 1, 1_000) * 10);
    }
    expect(window.oldest(4_999)).toBe(4_000);
  });

  it('gives the n-th oldest call left by the last expiry', () => {
    const window = new CallWindow(100);
    for (const time of [10, 20, 30, 40]) window.record(time);
    window.expire(125);
    expect(window.size).toBe(2);
    expect([window.at(0), window.at(1), window.at(2), window.at(-1)]).toEqual([30, 40, undefined, undefined]);
  });

  it('is empty after clear', () => {
    const window = new CallWindow(60_000);
    window.record(5);
    window.clear();
    expect(window.count(10)).toBe(0);
    window.record(20);
    expect(window.count(20)).toBe(1);
  });
});
