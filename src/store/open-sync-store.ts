import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PgSyncStore } from './pg-sync-store';
import type { SyncStore } from './sync-store';

/** The folder, under the data directory, that holds the embedded store's database files. */
export const EMBEDDED_STORE_FOLDER = 'sync-store';

/**
 * Opens (creating the folders) the PGlite database of the embedded store in `<dataDir>/sync-store`, without
 * touching its schema. Most callers want {@link openEmbeddedSyncStore}; this is for tools and tests that need
 * the SQL connection itself.
 */
export async function openEmbeddedDatabase(dataDir: string): Promise<PGlite> {
  const folder = path.join(dataDir, EMBEDDED_STORE_FOLDER);
  await mkdir(folder, { recursive: true });
  return PGlite.create(folder);
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
export async function openEmbeddedSyncStore(dataDir: string): Promise<SyncStore> {
  const db = await openEmbeddedDatabase(dataDir);
  const store = new PgSyncStore(db, { onClose: () => db.close() });
  try {
    await store.migrate();
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  return store;
}
