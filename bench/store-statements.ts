/**
 * Store statements of an import, apart from everything else: what the sync store costs per contact imported, on
 * the embedded store and on a PostgreSQL server, without HTTP, Temporal or sandboxes in the way (the import
 * benchmark's figures move by a third with the machine's other load; these by about a tenth).
 *
 *   npm run bench:store [-- --contacts 20000 --store both]
 *
 * `--contacts` generated contacts are mapped with the default mapping (not timed). Then, on an empty store, 4 lanes
 * make the statements of the import's first attempts: a page of 250 claimed at once (`claimForImport`), then per
 * push of 50 the lookup of links and synced states (`getSyncedRecords`), the staged payload (`stagePush`) and the
 * delivery (`recordDelivered`). Reports contacts per second, the CPU time per contact of this process (with PGlite
 * in it, for the embedded store) and of PostgreSQL's server (Linux only), and the mean time of each statement per
 * contact (waits for the connection included). A diagnostic, not part of `npm run bench`; writes
 * reports/bench-store.json.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CrmContactRecord } from '../src/mapping/crm-contact-record';
import { loadMapping } from '../src/mapping/load-mapping';
import { openEmbeddedSyncStore, openPostgresSyncStore } from '../src/store/open-sync-store';
import type { SyncStore } from '../src/store/sync-store';
import { startPostgresServer, type PostgresServer } from '../test/helpers/postgres-server';
import {
  choiceOption,
  cpuMsByProcessName,
  cpuMsSpent,
  formatRows,
  generatedS360Contacts,
  number,
  option,
  packageRoot,
  runMain,
  writeReport,
} from './bench-common';

const seed = 7;
const target = 'bench';
const pageSize = 250;
const payloadSize = 50;
const lanes = 4;

/** The store methods an import's first attempt calls, timed. */
const timedStatements = ['claimForImport', 'getSyncedRecords', 'stagePush', 'recordDelivered'] as const;
type TimedStatement = (typeof timedStatements)[number];

export interface StoreStatementsRun {
  store: 'embedded' | 'postgres';
  contacts: number;
  seconds: number;
  contactsPerSecond: number;
  /** CPU time of this process per contact: the driver, or PGlite itself for the embedded store. */
  processCpuMsPerContact: number;
  /** CPU time of PostgreSQL's server processes per contact (0 for the embedded store, and off Linux). */
  serverCpuMsPerContact: number;
  /** Mean time of each statement per contact, in ms, waits for the connection included. */
  statementMsPerContact: Record<TimedStatement, number>;
}

const round = (value: number, digits = 3): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** The default mapping's records of `count` generated contacts, as the import would push them. */
function generatedRecords(count: number): CrmContactRecord[] {
  const mapping = loadMapping(join(packageRoot(), 'mappings', 'default.yaml'));
  return generatedS360Contacts(count, seed).map((contact) => {
    const mapped = mapping.mapOutbound(contact);
    if (!mapped.ok)
      throw new Error(`generated contact ${contact.contactNumber} does not map: ${mapped.reason}`);
    return mapped.record;
  });
}

/** The import's statements for `records` on an empty `store`, in lanes of pages. */
async function runStatements(
  store: SyncStore,
  records: readonly CrmContactRecord[],
): Promise<Record<TimedStatement, number>> {
  const spentMs: Record<TimedStatement, number> = {
    claimForImport: 0,
    getSyncedRecords: 0,
    stagePush: 0,
    recordDelivered: 0,
  };
  const timed = async <T>(statement: TimedStatement, call: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await call();
    } finally {
      spentMs[statement] += performance.now() - started;
    }
  };
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < records.length) {
      const from = next;
      next += pageSize;
      const page = records.slice(from, from + pageSize);
      const claimId = `import-bench/${from}`;
      await timed('claimForImport', () =>
        store.claimForImport({ target, claimId, contactNumbers: page.map((record) => record.contactNumber) }),
      );
      for (let start = 0; start < page.length; start += payloadSize) {
        const push = page.slice(start, start + payloadSize);
        const contactNumbers = push.map((record) => record.contactNumber);
        const pushId = `${claimId}/${start / payloadSize}`;
        await timed('getSyncedRecords', () => store.getSyncedRecords({ target, contactNumbers }));
        await timed('stagePush', () =>
          store.stagePush({ pushId, target, contactNumbers, body: JSON.stringify(push), heldRelays: [] }),
        );
        await timed('recordDelivered', () =>
          store.recordDelivered({
            target,
            claimId,
            pushId,
            records: push.map(({ contactNumber, entity, fields }) => ({ contactNumber, entity, fields })),
          }),
        );
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return spentMs;
}

/** The statements on one store, created empty for the run. */
export async function measureStoreStatements(
  kind: 'embedded' | 'postgres',
  records: readonly CrmContactRecord[],
  postgres?: PostgresServer,
): Promise<StoreStatementsRun> {
  const folder = mkdtempSync(join(tmpdir(), 'crm-sync-bench-store-'));
  let store: SyncStore | undefined;
  try {
    if (kind === 'postgres') {
      if (!postgres) throw new Error('the PostgreSQL store needs a server');
      store = await openPostgresSyncStore({
        url: await postgres.createDatabase('bench_store'),
        poolSize: 10,
      });
    } else {
      store = await openEmbeddedSyncStore(folder);
    }
    const serverBefore = cpuMsByProcessName();
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const spentMs = await runStatements(store, records);
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const serverMs = cpuMsSpent(serverBefore, cpuMsByProcessName(), 'postgres');
    const contacts = records.length;
    return {
      store: kind,
      contacts,
      seconds: round(seconds, 2),
      contactsPerSecond: Math.round(contacts / seconds),
      processCpuMsPerContact: round((cpu.user + cpu.system) / 1000 / contacts),
      serverCpuMsPerContact: round(serverMs / contacts),
      statementMsPerContact: Object.fromEntries(
        timedStatements.map((statement) => [statement, round(spentMs[statement] / contacts)]),
      ) as Record<TimedStatement, number>,
    };
  } finally {
    await store?.close();
    rmSync(folder, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const contacts = option('contacts', 20_000);
  const choice = choiceOption('store', ['embedded', 'postgres', 'both'] as const, 'both');
  const kinds = choice === 'both' ? (['embedded', 'postgres'] as const) : [choice];
  const records = generatedRecords(contacts);
  // With its durable defaults (fsync, synchronous commits): what a deployment pays.
  const postgres = kinds.includes('postgres') ? await startPostgresServer({ durable: true }) : undefined;
  const runs: StoreStatementsRun[] = [];
  try {
    for (const kind of kinds) runs.push(await measureStoreStatements(kind, records, postgres));
  } finally {
    await postgres?.stop();
  }
  for (const run of runs) {
    process.stdout.write(
      formatRows(
        `Store statements of an import, ${run.store} store (${number(contacts)} contacts, pages of ${pageSize}, pushes of ${payloadSize}, ${lanes} lanes; ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'})`,
        [
          ['contacts per second', number(run.contactsPerSecond)],
          ['CPU ms per contact, this process', run.processCpuMsPerContact.toFixed(3)],
          ['CPU ms per contact, PostgreSQL server', run.serverCpuMsPerContact.toFixed(3)],
          ...timedStatements.map(
            (statement) =>
              [`${statement}, ms per contact`, run.statementMsPerContact[statement].toFixed(3)] as const,
          ),
        ],
      ),
    );
  }
  const file = writeReport('bench-store.json', {
    benchmark: 'store-statements',
    runs,
    node: process.version,
    cpus: cpus().length,
    measuredAt: new Date().toISOString(),
  });
  process.stdout.write(`Written to ${file}\n`);
}

if (require.main === module) runMain(main);
