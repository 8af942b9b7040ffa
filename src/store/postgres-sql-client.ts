import { Pool, type PoolClient, type PoolConfig } from 'pg';
import type { SqlClient, SqlQueryable } from './sql-client';

/** A {@link SqlClient} over a `pg` pool, and the pool's end. */
export interface PostgresSqlClient extends SqlClient {
  /** Waits for the statements in progress, then closes every connection. */
  end(): Promise<void>;
}

/** Where the pool connects and how many connections it may open. */
export interface PostgresPoolOptions {
  /** `postgresql://user:password@host:5432/database` (query parameters such as `sslmode` are honoured). */
  url: string;
  /** Connections the pool may open at once. */
  poolSize: number;
  /** Names the connections in `pg_stat_activity`. */
  applicationName?: string;
}

/**
 * The sync store's SQL on a PostgreSQL server, through a `pg` pool: statements run on any free connection, a
 * transaction on one connection checked out for it (`BEGIN` ... `COMMIT`, `ROLLBACK` when the callback throws).
 * Several worker processes can share the server; the store's statements are written for that (row locks, one
 * advisory lock for migrations).
 *
 * The pool opens connections on demand: nothing connects before the first statement.
 */
export function createPostgresSqlClient(options: PostgresPoolOptions): PostgresSqlClient {
  const config: PoolConfig = {
    connectionString: options.url,
    max: options.poolSize,
    application_name: options.applicationName ?? 'crm-sync',
    // A server that does not answer fails the statement instead of hanging the activity until its timeout.
    connectionTimeoutMillis: 10_000,
  };
  const pool = new Pool(config);
  // An idle connection that the server closes (restart, failover) is dropped by the pool; the next statement opens
  // a new one. Without a listener, that error would end the process.
  pool.on('error', () => undefined);

  const queryable = (runner: Pool | PoolClient): SqlQueryable => ({
    async query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }> {
      const result = await runner.query(sql, params);
      return { rows: result.rows as T[] };
    },
    exec: (sql: string) => runner.query(sql),
  });

  return {
    ...queryable(pool),
    async transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('begin');
        const result = await fn(queryable(client));
        await client.query('commit');
        return result;
      } catch (err) {
        await client.query('rollback').catch((rollbackError: unknown) => {
          // A connection that cannot even roll back is not given back to the pool.
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        });
        throw err;
      } finally {
        client.release(broken);
      }
    },
    end: () => pool.end(),
  };
}
