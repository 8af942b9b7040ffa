/**
 * The sync store on a real PostgreSQL server (started for this file): the behaviour every store has, then what
 * only a server shared by several processes shows: concurrent writers, concurrent migrations, a server that
 * cannot be reached.
 */
import { migrations } from '../../../src/store/migrations';
import {
  openPostgresSyncStore,
  redactedUrl,
  StoreUnavailableError,
} from '../../../src/store/open-sync-store';
import { PgSyncStore } from '../../../src/store/pg-sync-store';
import { createPostgresSqlClient, type PostgresSqlClient } from '../../../src/store/postgres-sql-client';
import type { SyncStore } from '../../../src/store/sync-store';
import { freePort } from '../../helpers/free-port';
import { startPostgresServer, type PostgresServer } from '../../helpers/postgres-server';
import { expectKeyLookupsAfterImport } from '../../helpers/store-lookup-plan';
import { describeSyncStoreBehaviour } from '../../helpers/sync-store-behaviour';

let server: PostgresServer;
let databases = 0;
/** A new empty database on the server. */
const newDatabase = (): Promise<string> => server.createDatabase(`store_test_${(databases += 1)}`);

beforeAll(async () => {
  server = await startPostgresServer();
}, 60_000);

afterAll(async () => {
  await server?.stop();
}, 30_000);

describe('the PostgreSQL sync store', () => {
  let url: string;
  describeSyncStoreBehaviour({
    async open() {
      url = await newDatabase();
      const sql = createPostgresSqlClient({ url, poolSize: 4 });
      const store = new PgSyncStore(sql, { onClose: () => sql.end() });
      await store.migrate();
      return { store, sql };
    },
    reopen: () => openPostgresSyncStore({ url, poolSize: 2 }),
    cleanup: async () => undefined,
  });
  it('reads only the contacts a push looks up, while an import fills a fresh store', async () => {
    const sql = createPostgresSqlClient({ url: await newDatabase(), poolSize: 2 });
    try {
      await expectKeyLookupsAfterImport(sql);
    } finally {
      await sql.end();
    }
  }, 60_000);
});

describe('several processes on one PostgreSQL store', () => {
  const opened: SyncStore[] = [];
  const open = async (url: string): Promise<SyncStore> => {
    const store = await openPostgresSyncStore({ url, poolSize: 5 });
    opened.push(store);
    return store;
  };
  afterAll(async () => {
    await Promise.all(opened.map((store) => store.close()));
  });

  it('migrates once when they start at the same time', async () => {
    const url = await newDatabase();
    await Promise.all([open(url), open(url), open(url)]);
    const sql = createPostgresSqlClient({ url, poolSize: 1 });
    try {
      const { rows } = await sql.query<{ version: number }>(
        'select version from schema_migrations order by version',
      );
      expect(rows.map((row) => row.version)).toEqual(migrations.map((step) => step.version));
    } finally {
      await sql.end();
    }
  });

  it('counts every change of contacts notified to both at once, without deadlock or loss', async () => {
    const url = await newDatabase();
    const [first, second] = await Promise.all([open(url), open(url)]);
    const contacts = Array.from({ length: 40 }, (_, index) => String(index).padStart(10, '0'));
    // Overlapping batches in opposite orders, from two pools at once: the receivers of two workers.
    await Promise.all(
      Array.from({ length: 20 }, (_, round) => {
        const store = round % 2 === 0 ? first : second;
        const batch = round % 2 === 0 ? contacts : [...contacts].reverse();
        return (store as SyncStore).enqueue({
          direction: 'outbound',
          targets: ['shared'],
          contactNumbers: batch,
        });
      }),
    );
    const claimed = await (first as SyncStore).claim({
      direction: 'outbound',
      target: 'shared',
      claimId: 'run-1',
      limit: 100,
    });
    expect(claimed).toHaveLength(contacts.length);
    expect(new Set(claimed.map((entry) => entry.version))).toEqual(new Set([20]));
  });

  it('gives each import page its contacts once when two workers claim pages at once', async () => {
    const url = await newDatabase();
    const [first, second] = (await Promise.all([open(url), open(url)])) as [SyncStore, SyncStore];
    const contacts = Array.from({ length: 200 }, (_, index) => String(index).padStart(10, '0'));
    // Two pages overlapping by half (a contact listed twice), claimed by two workers at the same moment.
    const [a, b] = await Promise.all([
      first.claimForImport({
        target: 'pages',
        claimId: 'import:pages/1',
        contactNumbers: contacts.slice(0, 150),
      }),
      second.claimForImport({
        target: 'pages',
        claimId: 'import:pages/2',
        contactNumbers: contacts.slice(50),
      }),
    ]);
    const overlap = contacts.slice(50, 150);
    expect([...a.claimed, ...b.claimed].sort()).toEqual(contacts);
    expect([...a.busy, ...b.busy].sort()).toEqual(overlap);
    expect(await first.counts({ direction: 'outbound', target: 'pages' })).toEqual({
      pending: 0,
      claimed: 200,
      parked: 0,
    });
  });
});

describe('a PostgreSQL store that cannot be opened', () => {
  it('says which server it could not reach, without its password', async () => {
    const port = await freePort();
    const url = `postgresql://crm_sync:s3cr3t-pa55@127.0.0.1:${port}/crm_sync`;
    const failure = await openPostgresSyncStore({ url, poolSize: 1 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(StoreUnavailableError);
    expect((failure as Error).message).toContain(`postgresql://crm_sync:***@127.0.0.1:${port}/crm_sync`);
    expect((failure as Error).message).toMatch(/ECONNREFUSED/);
    expect((failure as Error).message).not.toContain('s3cr3t-pa55');
  });

  it('redacts only the password of a URL', () => {
    expect(redactedUrl('postgres://u:p@h:1/d?sslmode=require')).toBe(
      'postgres://u:***@h:1/d?sslmode=require',
    );
    expect(redactedUrl('postgresql://h/d')).toBe('postgresql://h/d');
    expect(redactedUrl('not a url')).toBe('(an unparsable URL)');
  });
});

describe('the PostgreSQL SQL client', () => {
  let sql: PostgresSqlClient;
  beforeAll(async () => {
    sql = createPostgresSqlClient({ url: await newDatabase(), poolSize: 2 });
    await sql.exec('create table t (id integer primary key)');
  });
  afterAll(() => sql.end());

  it('rolls a transaction back when its callback throws, and keeps one that returns', async () => {
    await expect(
      sql.transaction(async (tx) => {
        await tx.query('insert into t values ($1)', [1]);
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await sql.transaction((tx) => tx.query('insert into t values ($1) returning id', [2]))).toEqual({
      rows: [{ id: 2 }],
    });
    expect((await sql.query<{ id: number }>('select id from t order by id')).rows).toEqual([{ id: 2 }]);
  });

  it('runs the statements of a transaction on one connection, apart from the others', async () => {
    let inside: unknown[] = [];
    await sql.transaction(async (tx) => {
      await tx.query('insert into t values (3)');
      inside = (await tx.query<{ id: number }>('select id from t where id = 3')).rows;
      // Another connection does not see the uncommitted row.
      expect((await sql.query('select id from t where id = 3')).rows).toEqual([]);
    });
    expect(inside).toEqual([{ id: 3 }]);
    expect((await sql.query('select id from t where id = 3')).rows).toEqual([{ id: 3 }]);
  });
});
