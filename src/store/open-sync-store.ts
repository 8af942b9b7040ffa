import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { StoreConfig } from '../config/config-schema';
import { PgSyncStore } from './pg-sync-store';
import { createPostgresSqlClient, type PostgresPoolOptions } from './postgres-sql-client';
import type { SyncStore } from './sync-store';

/** The folder, under the data directory, that holds the embedded store's database files. */
export const EMBEDDED_STORE_FOLDER = 'sync-store';

/**
 * PostgreSQL settings of the embedded store, on top of PGlite's own. PGlite keeps PostgreSQL's memory inside its
 * WebAssembly memory, in the worker's process, and PostgreSQL's default `shared_buffers` (128 MB, touched as soon
 * as it starts) was most of the worker's memory. The trade-off: 16 MB of buffer cache instead of 128 MB. The store's
 * files live on the local file system, so a page evicted from that cache comes back from the kernel's page cache (a
 * read call, usually not a disk access). The other settings only cap memory taken on demand (sorts and hashes,
 * temporary tables, index builds); the store's queries are small.
 */
export const EMBEDDED_STORE_SETTINGS: Readonly<Record<string, string>> = {
  shared_buffers: '16MB',
  work_mem: '2MB',
  maintenance_work_mem: '16MB',
  temp_buffers: '2MB',
};

/** PGlite's start parameters with {@link EMBEDDED_STORE_SETTINGS}. */
export function embeddedStoreStartParams(): string[] {
  return [
    ...PGlite.defaultStartParams,
    ...Object.entries(EMBEDDED_STORE_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ];
}

/**
 * Opens (creating the folders) the PGlite database of the embedded store in `<dataDir>/sync-store`, without
 * touching its schema. Most callers want {@link openEmbeddedSyncStore}; this is for tools and tests that need
 * the SQL connection itself.
 */
export async function openEmbeddedDatabase(dataDir: string): Promise<PGlite> {
  const folder = path.join(dataDir, EMBEDDED_STORE_FOLDER);
  await mkdir(folder, { recursive: true });
  return PGlite.create(folder, { startParams: embeddedStoreStartParams() });
}

/**
 * Opens the embedded sync store: PGlite (PostgreSQL compiled to WebAssembly, in process) persisted in
 * `<dataDir>/sync-store`, creating the folders and bringing the schema up to date. Use it when no PostgreSQL
 * server is configured.
 *
 * PGlite is single-process: exactly one process may open the folder at a time, and that process (the worker,
 * with its receiver) owns it. Other processes, the CLI included, reach the store through the receiver's admin
 * API. Call `close()` on shutdown so that the last writes are flushed.
 */
export async function openEmbeddedSyncStore(
  dataDir: string,
  options: EmbeddedStoreOptions = {},
): Promise<SyncStore> {
  const db = await openEmbeddedDatabase(dataDir);
  const maintenance = startEmbeddedMaintenance(db, options);
  const store = new PgSyncStore(db, {
    onClose: async () => {
      await maintenance.stop();
      await db.close();
    },
    ...(options.onMaintenanceError ? { onStatisticsError: options.onMaintenanceError } : {}),
  });
  try {
    await store.migrate();
  } catch (err) {
    await maintenance.stop();
    await db.close().catch(() => undefined);
    throw err;
  }
  return store;
}

/** Options of {@link openEmbeddedSyncStore}. */
export interface EmbeddedStoreOptions {
  /** How often the store is vacuumed and analysed; default {@link EMBEDDED_MAINTENANCE_INTERVAL_MS}. */
  maintenanceIntervalMs?: number;
  /**
   * A maintenance run failed: a vacuum, or an `ANALYZE` while the tables grow (either store, see
   * `PlannerStatistics`). The store goes on; the next run tries again.
   */
  onMaintenanceError?: (err: unknown) => void;
}

/** The embedded store's maintenance interval: 5 minutes. */
export const EMBEDDED_MAINTENANCE_INTERVAL_MS = 5 * 60_000;

/**
 * What PostgreSQL's autovacuum does on a server, which PGlite, a single process without background workers, never
 * does by itself: `VACUUM (ANALYZE)` every few minutes. Without it, the rows the outbox and the import lists delete
 * are never reclaimed (the files grow for as long as the worker runs), and the planner never learns the tables'
 * sizes. A run waits its turn like any statement; the timer never keeps the process alive.
 */
function startEmbeddedMaintenance(db: PGlite, options: EmbeddedStoreOptions): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= db
      .exec('vacuum (analyze)')
      .then(
        () => undefined,
        (err: unknown) => options.onMaintenanceError?.(err),
      )
      .finally(() => {
        running = undefined;
      });
  }, options.maintenanceIntervalMs ?? EMBEDDED_MAINTENANCE_INTERVAL_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * Opens the PostgreSQL sync store at `url` and brings its schema up to date (several processes starting at once
 * migrate one after the other). The pool connects on demand; a server that cannot be reached fails here, with the
 * driver's reason, rather than at the first sync.
 */
export async function openPostgresSyncStore(
  options: PostgresPoolOptions,
  maintenance: Pick<EmbeddedStoreOptions, 'onMaintenanceError'> = {},
): Promise<SyncStore> {
  const sql = createPostgresSqlClient(options);
  const store = new PgSyncStore(sql, {
    onClose: () => sql.end(),
    ...(maintenance.onMaintenanceError ? { onStatisticsError: maintenance.onMaintenanceError } : {}),
  });
  try {
    await store.migrate();
  } catch (err) {
    await sql.end().catch(() => undefined);
    throw new StoreUnavailableError(
      `Cannot open the PostgreSQL sync store at ${redactedUrl(options.url)}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return store;
}

/** The sync store could not be opened (server unreachable, credentials refused, a migration failed). */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

/** Opens the store the configuration names: the embedded one in `<dataDir>/sync-store`, or PostgreSQL. */
export function openSyncStore(
  config: { store: StoreConfig; dataDir: string },
  options: EmbeddedStoreOptions = {},
): Promise<SyncStore> {
  return config.store.kind === 'postgres'
    ? openPostgresSyncStore({ url: config.store.url, poolSize: config.store.poolSize }, options)
    : openEmbeddedSyncStore(config.dataDir, options);
}

/** A connection URL fit for a log or an error message: its password replaced by `***`. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an unparsable URL)';
  }
}
