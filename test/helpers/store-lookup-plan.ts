import { PgSyncStore } from '../../src/store/pg-sync-store';
import { GROWING_TABLES } from '../../src/store/planner-statistics';
import type { SqlClient, SqlQueryable } from '../../src/store/sql-client';

/** What one statement read, from its `EXPLAIN (ANALYZE)`: rows read then filtered out, per table. */
interface PlanReads {
  /** The rows each table's scan read and threw away (not among the contacts asked for). */
  rowsRemovedByFilter: Record<string, number>;
  /** The rows each table's scan returned. */
  rowsReturned: Record<string, number>;
}

/** What a push's lookup read after an import, and what the planner knew then. */
interface LookupReads extends PlanReads {
  /** Growing tables the planner has no statistics of (never analysed). */
  tablesWithoutStatistics: string[];
}

interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows'?: number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

/**
 * Imports `contacts` contacts into a fresh store on `sql` (an empty database) as the import writes them: claimed by
 * pages of 250, then delivered by pushes of 50. Then looks up the links and synced states of the last 50 and answers
 * what that lookup read, measured by PostgreSQL itself. No `ANALYZE` other than the store's own runs.
 */
async function lookupReadsAfterImport(sql: SqlClient, contacts: number): Promise<LookupReads> {
  const statements: Array<{ text: string; params: unknown[] | undefined }> = [];
  const recorded: SqlClient = {
    query: <T>(text: string, params?: unknown[]) => {
      statements.push({ text, params });
      return sql.query<T>(text, params);
    },
    exec: (text) => sql.exec(text),
    transaction: (fn) => sql.transaction(fn),
  };
  // Without onClose, closing the store only waits for its background work.
  const store = new PgSyncStore(recorded);
  await store.migrate();
  const target = 'lookups';
  const contactNumbers = Array.from({ length: contacts }, (_, index) => String(index + 1).padStart(10, '0'));
  for (let page = 0; page < contacts; page += 250) {
    const claimId = `import-lookups/${page}`;
    const pageContacts = contactNumbers.slice(page, page + 250);
    await store.claimForImport({ target, claimId, contactNumbers: pageContacts });
    for (let push = 0; push < pageContacts.length; push += 50) {
      await store.recordDelivered({
        target,
        claimId,
        records: pageContacts.slice(push, push + 50).map((contactNumber) => ({
          contactNumber,
          entity: 'person',
          fields: { email: `${contactNumber}@example.org`, lastName: 'Lookup', city: 'Lausanne' },
        })),
      });
    }
  }
  await store.close();

  statements.length = 0;
  await store.getSyncedRecords({ target, contactNumbers: contactNumbers.slice(-50) });
  const lookup = statements.at(-1);
  if (!lookup) throw new Error('getSyncedRecords ran no statement');
  const { rows } = await sql.query<{ relname: string }>(
    'select relname from pg_class where relname = any($1::text[]) and reltuples < 0 order by relname',
    [GROWING_TABLES],
  );
  return {
    ...(await readsOf(sql, lookup.text, lookup.params)),
    tablesWithoutStatistics: rows.map((row) => row.relname),
  };
}

async function readsOf(sql: SqlQueryable, text: string, params: unknown[] | undefined): Promise<PlanReads> {
  const { rows } = await sql.query<{ 'QUERY PLAN': unknown }>(
    `explain (analyze, format json) ${text}`,
    params,
  );
  const explained = rows[0]?.['QUERY PLAN'];
  const document = (typeof explained === 'string' ? JSON.parse(explained) : explained) as Array<{
    Plan: PlanNode;
  }>;
  const reads: PlanReads = { rowsRemovedByFilter: {}, rowsReturned: {} };
  const visit = (node: PlanNode): void => {
    const table = node['Relation Name'];
    if (table) {
      reads.rowsRemovedByFilter[table] =
        (reads.rowsRemovedByFilter[table] ?? 0) + (node['Rows Removed by Filter'] ?? 0);
      reads.rowsReturned[table] = (reads.rowsReturned[table] ?? 0) + (node['Actual Rows'] ?? 0);
    }
    node.Plans?.forEach(visit);
  };
  for (const entry of document) visit(entry.Plan);
  return reads;
}

/**
 * The expectation both stores meet: after a 10,000-contact import into a fresh database on `sql`, a push's lookup
 * reads only the 50 contacts asked for, and the store has analysed its growing tables by itself.
 */
export async function expectKeyLookupsAfterImport(sql: SqlClient): Promise<void> {
  const reads = await lookupReadsAfterImport(sql, 10_000);
  // 50 links and 50 synced states, found by primary key; not the other 9,950 read and filtered out.
  expect(reads.rowsReturned).toEqual({ crm_link: 50, synced_state: 50 });
  expect(reads.rowsRemovedByFilter).toEqual({ crm_link: 0, synced_state: 0 });
  // The store analysed them itself, without waiting for autovacuum or its own maintenance.
  expect(reads.tablesWithoutStatistics).toEqual([]);
}
