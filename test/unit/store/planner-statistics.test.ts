import { GROWING_TABLES, PlannerStatistics } from '../../../src/store/planner-statistics';
import type { SqlQueryable } from '../../../src/store/sql-client';

/** A connection that records the scripts run and lets the test finish each. */
function recordingConnection() {
  const scripts: string[] = [];
  const pending: Array<{ resolve(): void; reject(err: Error): void }> = [];
  const sql: SqlQueryable = {
    query: () => Promise.reject(new Error('no queries expected')),
    exec: (script) => {
      scripts.push(script);
      return new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
    },
  };
  const finishNext = async (err?: Error): Promise<void> => {
    const run = pending.shift();
    if (!run) throw new Error('no ANALYZE in progress');
    if (err) run.reject(err);
    else run.resolve();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { sql, scripts, finishNext };
}

describe('PlannerStatistics', () => {
  it('analyses the growing tables after 1,000 rows, then each time the rows written have doubled', async () => {
    const { sql, scripts, finishNext } = recordingConnection();
    const statistics = new PlannerStatistics(sql);
    statistics.wrote(999);
    expect(scripts).toEqual([]);
    statistics.wrote(1);
    expect(scripts).toEqual([`analyze ${GROWING_TABLES.join(', ')}`]);
    await finishNext();

    statistics.wrote(999); // 1,999 in all
    expect(scripts).toHaveLength(1);
    statistics.wrote(1); // 2,000
    expect(scripts).toHaveLength(2);
    await finishNext();
    statistics.wrote(3_999); // 5,999: past 4,000
    expect(scripts).toHaveLength(3);
    await finishNext();
    await statistics.settled();
  });

  it('runs one ANALYZE at a time; rows written meanwhile count towards the next', async () => {
    const { sql, scripts, finishNext } = recordingConnection();
    const statistics = new PlannerStatistics(sql);
    statistics.wrote(1_000);
    statistics.wrote(5_000); // past 2,000 while the first run is still going
    expect(scripts).toHaveLength(1);
    let settled = false;
    const waiting = statistics.settled().then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    await finishNext();
    await waiting;
    statistics.wrote(1); // 6,001 in all: past 2,000 already
    expect(scripts).toHaveLength(2);
    await finishNext();
  });

  it('reports a failed ANALYZE and tries again at the next threshold', async () => {
    const { sql, scripts, finishNext } = recordingConnection();
    const errors: unknown[] = [];
    const statistics = new PlannerStatistics(sql, (err) => errors.push(err));
    statistics.wrote(1_000);
    await finishNext(new Error('permission denied for table outbox'));
    expect(errors).toEqual([new Error('permission denied for table outbox')]);
    statistics.wrote(1_000);
    expect(scripts).toHaveLength(2);
    await finishNext();
    expect(errors).toHaveLength(1);
  });
});
