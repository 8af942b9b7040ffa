/**
 * The little SQL surface the store needs, so that one implementation runs on PGlite (embedded) and on a
 * PostgreSQL pool. PGlite satisfies it as it is; a `pg` Pool needs a thin wrapper (a client checked out for the
 * transaction, `BEGIN`/`COMMIT`/`ROLLBACK` around the callback).
 */

/** Runs statements: `query` one statement with `$1` parameters, `exec` a parameterless script. */
export interface SqlQueryable {
  query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  exec(sql: string): Promise<unknown>;
}

/** A connection or pool that can also run a callback inside one transaction (rolled back when it throws). */
export interface SqlClient extends SqlQueryable {
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T>;
}
