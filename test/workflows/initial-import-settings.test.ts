import { importRate, RATE_MEASURE_MS } from '../../src/workflows/initial-import-settings';

describe('the import rate', () => {
  const start = 1_000_000;

  it('is unknown within the first minute of pages, however fast they went', () => {
    expect(
      importRate(
        [
          [start, 0],
          [start + 500, 27],
          [start + 30_000, 207],
        ],
        start,
      ),
    ).toBeNull();
  });

  it('is the contacts per second between the oldest and newest sample once the newest is a minute on', () => {
    const samples: Array<[number, number]> = [
      [start + 10_000, 100],
      [start + 40_000, 190],
      [start + RATE_MEASURE_MS + 10_000, 280],
    ];
    expect(importRate(samples, start)).toBeCloseTo(3, 5);
  });

  it('is unknown without two samples apart in time', () => {
    expect(importRate([], start)).toBeNull();
    expect(importRate([[start + 90_000, 50]], start)).toBeNull();
    expect(
      importRate(
        [
          [start + 90_000, 50],
          [start + 90_000, 60],
        ],
        start,
      ),
    ).toBeNull();
  });
});
