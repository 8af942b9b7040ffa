import type { SqlQueryable } from './sql-client';

/** The tables that grow with the contacts synced, and that the hot statements read by key. */
export const GROWING_TABLES: readonly string[] = [
  'outbox',
  'crm_link',
  'synced_state',
  'staged_push',
  'import_contact',
];

/** Rows written before the first `ANALYZE` of a process; each later one waits for as many rows again. */
export const FIRST_ANALYZE_AFTER_ROWS = 1_000;

/**
 * Keeps PostgreSQL's planner statistics of the growing tables in step while they grow fast, as they do during the
 * initial import into a fresh store.
 *
 * A table never analysed has no statistics on its columns, and the planner then assumes that `target = $1` matches
 * 0.5% of the rows. With every row of one target, it chose to read a target's whole primary key range and filter
 * the contact numbers afterwards, rather than look up the 50 contact numbers of a push: one lookup cost 10 ms at
 * 20,000 contacts instead of 0.3 ms, and grew with the table. PostgreSQL's autovacuum analyses a table only at
 * its next round (every minute), and the embedded store (PGlite, without autovacuum) every 5 minutes: the whole
 * import of a few hundred thousand contacts could run on those plans.
 *
 * So the store reports the rows it writes, and `ANALYZE` runs after the first {@link FIRST_ANALYZE_AFTER_ROWS}, then
 * each time as many rows again have been written as in all before (1,000, 2,000, 4,000...): a handful of runs for
 * any import. Once a table has statistics, the planner scales them to its current size by itself. One run at a
 * time, in the background: the write that crossed the threshold does not wait for it.
 */
export class PlannerStatistics {
  private written = 0;
  private nextAt = FIRST_ANALYZE_AFTER_ROWS;
  private running: Promise<void> | undefined;

  constructor(
    private readonly sql: SqlQueryable,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  /** `rows` rows were written to the growing tables. */
  wrote(rows: number): void {
    this.written += rows;
    if (this.written < this.nextAt || this.running) return;
    this.nextAt = this.written * 2;
    this.running = this.sql
      .exec(`analyze ${GROWING_TABLES.join(', ')}`)
      .then(
        () => undefined,
        (err: unknown) => this.onError(err),
      )
      .finally(() => {
        this.running = undefined;
      });
  }

  /** Waits for the run in progress, if any. */
  async settled(): Promise<void> {
    await this.running;
  }
}
