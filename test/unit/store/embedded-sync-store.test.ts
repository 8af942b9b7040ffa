import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import {
  EMBEDDED_STORE_SETTINGS,
  openEmbeddedDatabase,
  openEmbeddedSyncStore,
} from '../../../src/store/open-sync-store';
import { PgSyncStore } from '../../../src/store/pg-sync-store';
import { expectKeyLookupsAfterImport } from '../../helpers/store-lookup-plan';
import { describeSyncStoreBehaviour } from '../../helpers/sync-store-behaviour';

// One PGlite database for the whole file (it takes seconds to start).
let dataDir: string;
let db: PGlite;

describe('the embedded sync store (PGlite in a folder)', () => {
  // Before the shared suite, whose last test closes the store.
  it('runs PostgreSQL with the memory settings of the embedded store', async () => {
    for (const [name, value] of Object.entries(EMBEDDED_STORE_SETTINGS)) {
      const { rows } = await db.query<Record<string, string>>(`show ${name}`);
      expect(rows[0]?.[name]).toBe(value);
    }
  });

  describeSyncStoreBehaviour({
    async open() {
      dataDir = await mkdtemp(path.join(os.tmpdir(), 'crm-sync-store-'));
      db = await openEmbeddedDatabase(dataDir);
      const store = new PgSyncStore(db, { onClose: () => db.close() });
      await store.migrate();
      return { store, sql: db };
    },
    reopen: () => openEmbeddedSyncStore(dataDir),
    async cleanup() {
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  });

  it('vacuums and analyses itself, as PGlite has no autovacuum', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'crm-sync-store-maintenance-'));
    try {
      const errors: unknown[] = [];
      const maintained = await openEmbeddedSyncStore(folder, {
        maintenanceIntervalMs: 50,
        onMaintenanceError: (err) => errors.push(err),
      });
      const contactNumbers = Array.from({ length: 500 }, (_, index) => String(index).padStart(10, '0'));
      await maintained.enqueue({ direction: 'outbound', targets: ['maintained'], contactNumbers });
      await new Promise((resolve) => setTimeout(resolve, 500));
      await maintained.close();
      expect(errors).toEqual([]);

      // ANALYZE recorded the table's size for the planner.
      const reopened = await openEmbeddedDatabase(folder);
      try {
        const { rows } = await reopened.query<{ reltuples: number }>(
          "select reltuples from pg_class where relname = 'outbox'",
        );
        expect(rows[0]?.reltuples).toBe(500);
      } finally {
        await reopened.close();
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }, 60_000);

  it('reads only the contacts a push looks up, while an import fills a fresh store', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'crm-sync-store-plans-'));
    const fresh = await openEmbeddedDatabase(folder);
    try {
      await expectKeyLookupsAfterImport(fresh);
    } finally {
      await fresh.close();
      await rm(folder, { recursive: true, force: true });
    }
  }, 60_000);
});
