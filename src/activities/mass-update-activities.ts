import { ApplicationFailure, Context } from '@temporalio/activity';
import { NotFoundError, PermanentError } from '../adapters/http/errors';
import type { S360Client } from '../adapters/s360/s360-client';
import { FailureType } from '../failure-types';
import {
  checkUpdateFile,
  countUpdateRows,
  readUpdates,
  UpdateFileError,
  type UpdateProblem,
  type UpdateRow,
} from '../mass-update/update-file';
import { mergeListsInto, replacesLists } from '../mass-update/merge-update';
import type { MassUpdateParkInput, MassUpdateSourceRow, SyncStore } from '../store/sync-store';
import type { CrmAdapter, CrmQueryPage } from '../adapters/crm/crm-adapter';
import type { MappingPlan } from '../mapping/compile-mapping';
import { updateFromCrmRecord } from '../mass-update/crm-query-rows';
import type {
  ApplyMassUpdateChunkInput,
  ApplyMassUpdateChunkResult,
  CheckMassUpdateSourceInput,
  CheckMassUpdateSourceResult,
  CrmQuerySnapshotProgress,
  MassUpdateActivities,
  MassUpdateCrmQuery,
  MassUpdateChunkProgress,
  MassUpdateSource,
} from './mass-update-activity-types';
import {
  credentialsFailure,
  crmAdapterOrFailure,
  isCredentialsRefusal,
  toActivityFailure,
} from './translate-error';

/** What the mass update activities are built from (the worker passes the real ones, tests fakes). */
export interface MassUpdateActivityDeps {
  store: SyncStore;
  s360: Pick<S360Client, 'saveIndividualContactData' | 'getContactData'>;
  /** The adapter of a configured CRM target, for mass updates from a CRM query; throws for an unknown one. */
  crmAdapter(target: string): CrmAdapter;
  /** Maps a CRM query's records back to S-360 updates. */
  mapping: Pick<MappingPlan, 'mapInbound'>;
  /**
   * The process-wide S-360 budget (the S-360 client's limiter): a raised rate must be allowed by it too, or it
   * caps the rate. Absent: raised rates are left to whatever limit the client has.
   */
  s360Budget?: { allowFor(limit: number, forMs: number): void };
  /** S-360 calls in flight at once within a chunk (latency must not cap the rate); default 8. */
  massUpdateConcurrency?: number;
}

/** Parking codes of the mass update (besides the status code S-360 refuses a value with). */
export const MassUpdateParkCode = {
  /** The row cannot be read: the file must be fixed. */
  InvalidRow: 'INVALID_ROW',
  /** S-360 does not know the contact. */
  NotFound: 'NOT_FOUND',
} as const;

/** What became of a row, and the S-360 calls it took (what the pacing counts). */
type RowOutcome = { calls: number } & (
  { kind: 'applied' } | { kind: 'parked'; code: string; reason: string }
);

/**
 * The activities of the `massUpdate` workflow. A chunk reads a page of rows (from the file, or the parked rows of
 * the update retried) and applies each good row with `saveIndividualContactData` as fast as the S-360 budget lets
 * it — the workflow paces the chunks. Rows that cannot be read, contacts S-360 does not know and values it refuses
 * are parked with their line and reason, and the rest goes on; transient errors and throttling fail the attempt,
 * which Temporal retries from the last row heartbeated. Applying a row again is harmless: the same values.
 */
export function createMassUpdateActivities(deps: MassUpdateActivityDeps): MassUpdateActivities {
  const { store, s360 } = deps;
  const concurrency = Math.max(1, deps.massUpdateConcurrency ?? 8);

  async function checkMassUpdateSource(
    input: CheckMassUpdateSourceInput,
  ): Promise<CheckMassUpdateSourceResult> {
    const source = sourceOf(input);
    if ('retryOf' in source) {
      return { totalRows: (await store.countMassUpdateParked(source.retryOf)).retryable };
    }
    if ('crmQuery' in source) return { totalRows: await keepCrmQueryRows(input.updateId, source.crmQuery) };
    const totalRows = await fileFailure(async () => {
      await checkUpdateFile(source.file);
      return countUpdateRows(source.file);
    });
    return { totalRows };
  }

  async function applyMassUpdateChunk(input: ApplyMassUpdateChunkInput): Promise<ApplyMassUpdateChunkResult> {
    const context = Context.current();
    const signal = context.cancellationSignal;
    const source = sourceOf(input);
    /** Where the rows are parked: under the update retried, for a retry, so that one list stays current. */
    const parkUnder = 'retryOf' in source ? source.retryOf : input.updateId;

    if (input.raisedUntilMs !== undefined && input.raisedUntilMs !== null) {
      const forMs = input.raisedUntilMs - Date.now();
      if (forMs > 0) deps.s360Budget?.allowFor(input.perMinute, forMs);
    }

    const page =
      'retryOf' in source
        ? await parkedPage(source.retryOf, input)
        : 'crmQuery' in source
          ? await keptRowsPage(input)
          : await filePage(source.file, input);
    const rows = page.rows;
    const before = context.info.heartbeatDetails as MassUpdateChunkProgress | undefined;
    const resumed = before?.fromLine === input.fromLine ? before : undefined;
    const progress: MassUpdateChunkProgress = resumed
      ? { ...resumed }
      : { fromLine: input.fromLine, done: 0, applied: 0, parked: 0, calls: 0 };

    if (!resumed && page.problems.length > 0) {
      await store.parkMassUpdateRows(
        page.problems.map((problem) => ({
          updateId: parkUnder,
          line: problem.line,
          ...(problem.contactNumber !== undefined ? { contactNumber: problem.contactNumber } : {}),
          code: MassUpdateParkCode.InvalidRow,
          reason: problem.reason,
        })),
      );
      progress.parked += page.problems.length;
      for (const problem of page.problems) {
        context.log.warn('Parking a mass update row that cannot be read', {
          updateId: input.updateId,
          line: problem.line,
          reason: problem.reason,
        });
      }
    }
    context.heartbeat(progress);

    const applyRow = async (row: UpdateRow): Promise<RowOutcome> => {
      let outcome: RowOutcome;
      let calls = 0;
      try {
        let update = row.update;
        if (replacesLists(update)) {
          // The row names some opt-ins or criteria: the contact's others are read, to be sent back as they are.
          calls += 1;
          update = mergeListsInto(await s360.getContactData(update.contactNumber, { signal }), update);
        }
        calls += 1;
        await s360.saveIndividualContactData(update, { signal });
        outcome = { kind: 'applied', calls };
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        if (err instanceof NotFoundError) {
          outcome = { kind: 'parked', code: MassUpdateParkCode.NotFound, reason: err.message, calls };
        } else if (isCredentialsRefusal(err)) {
          throw credentialsFailure(err);
        } else if (err instanceof PermanentError) {
          outcome = { kind: 'parked', code: err.code, reason: err.message, calls };
        } else {
          throw toActivityFailure(err);
        }
      }
      if (outcome.kind === 'parked') {
        context.log.warn('Parking a mass update row S-360 refused', {
          updateId: input.updateId,
          line: row.line,
          contactNumber: row.update.contactNumber,
          code: outcome.code,
          reason: outcome.reason,
        });
        const parked: MassUpdateParkInput = {
          updateId: parkUnder,
          line: row.line,
          contactNumber: row.update.contactNumber,
          code: outcome.code,
          reason: outcome.reason,
          update: row.update,
        };
        await store.parkMassUpdateRows([parked]);
      } else if ('retryOf' in source) {
        await store.unparkMassUpdateRows({ updateId: source.retryOf, lines: [row.line] });
      }
      return outcome;
    };

    // Rows go out `concurrency` at a time (the S-360 budget decides when), in file order for each contact: two
    // rows of one contact never overlap, so the later one wins as in the file.
    const outcomes: Array<RowOutcome | undefined> = [];
    const inFlight = new Map<string, Promise<unknown>>();
    let next = progress.done;
    let failure: { error: unknown } | undefined;
    const lane = async (): Promise<void> => {
      while (next < rows.length && !failure) {
        const index = next;
        next += 1;
        const row = rows[index] as UpdateRow;
        const contactNumber = row.update.contactNumber;
        const earlier = inFlight.get(contactNumber);
        const call = (async () => {
          if (earlier) await earlier.catch(() => undefined);
          if (failure) return;
          outcomes[index] = await applyRow(row);
        })();
        inFlight.set(contactNumber, call);
        try {
          await call;
        } catch (err) {
          failure ??= { error: err };
        } finally {
          if (inFlight.get(contactNumber) === call) inFlight.delete(contactNumber);
        }
        // Every row before `done` is finished: that is what a retried attempt skips.
        let advanced = false;
        for (let outcome = outcomes[progress.done]; outcome; outcome = outcomes[progress.done]) {
          progress.done += 1;
          progress.calls += outcome.calls;
          progress[outcome.kind] += 1;
          advanced = true;
        }
        if (advanced) context.heartbeat(progress);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, rows.length) }, lane));
    if (failure) throw failure.error;

    return {
      rows: rows.length + page.problems.length,
      applied: progress.applied,
      parked: progress.parked,
      calls: progress.calls,
      nextLine: page.nextLine,
    };
  }

  /** A page of parked rows to retry, by line, with the line the next page starts at. */
  async function parkedPage(
    retryOf: string,
    input: ApplyMassUpdateChunkInput,
  ): Promise<{ rows: UpdateRow[]; problems: UpdateProblem[]; nextLine: number | null }> {
    const parked = await store.listMassUpdateParked({
      updateId: retryOf,
      fromLine: input.fromLine,
      limit: input.maxRows + 1,
      retryableOnly: true,
    });
    const rows = parked
      .slice(0, input.maxRows)
      .flatMap((row) => (row.update ? [{ line: row.line, update: row.update }] : []));
    return { rows, problems: [], nextLine: parked[input.maxRows]?.line ?? null };
  }

  /**
   * Runs a CRM query page by page and keeps its records as rows (line = position in the results, from 1): each
   * mapped to an S-360 update, or with the reason it cannot be (not linked to a contact, not mappable). Heartbeats
   * after each page kept; a retry goes on from there (a page kept twice keeps its first rows). Returns the rows.
   */
  async function keepCrmQueryRows(updateId: string, crmQuery: MassUpdateCrmQuery): Promise<number> {
    const context = Context.current();
    const signal = context.cancellationSignal;
    const adapter = crmAdapterOrFailure(deps.crmAdapter, crmQuery.target);
    if (!adapter.queryRecords) {
      throw ApplicationFailure.create({
        type: FailureType.Configuration,
        nonRetryable: true,
        message: `CRM target "${crmQuery.target}" has no record search to run a query on: set its query.url (crm.targets[].query)`,
      });
    }
    const progress = resumeSnapshot(context.info.heartbeatDetails);
    while (!progress.done) {
      let page: CrmQueryPage;
      try {
        page = await adapter.queryRecords(
          {
            query: crmQuery.query,
            ...(progress.after !== undefined ? { after: progress.after } : {}),
            limit: adapter.queryPageSize ?? 200,
          },
          { signal },
        );
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        if (isCredentialsRefusal(err)) throw credentialsFailure(err);
        throw toActivityFailure(err);
      }
      const rows: MassUpdateSourceRow[] = [];
      for (const record of page.records) {
        progress.line += 1;
        const contactNumber =
          record.contactNumber ??
          (record.crmId !== undefined
            ? await store.contactNumberOfCrmId({ target: crmQuery.target, crmId: record.crmId })
            : undefined);
        if (contactNumber === undefined) {
          rows.push({
            line: progress.line,
            problem: `CRM record ${record.crmId ?? '(without an ID)'} is not linked to an S-360 contact`,
          });
        } else {
          rows.push({
            line: progress.line,
            contactNumber,
            ...updateFromCrmRecord(contactNumber, record, deps.mapping),
          });
        }
      }
      await store.addMassUpdateRows(updateId, rows);
      progress.done = page.next === null;
      if (page.next !== null) progress.after = page.next;
      context.heartbeat({ ...progress } satisfies CrmQuerySnapshotProgress);
    }
    return store.countMassUpdateRows(updateId);
  }

  /** A page of the rows kept from a CRM query, by line, with the line the next page starts at. */
  async function keptRowsPage(
    input: ApplyMassUpdateChunkInput,
  ): Promise<{ rows: UpdateRow[]; problems: UpdateProblem[]; nextLine: number | null }> {
    const kept = await store.listMassUpdateRows({
      updateId: input.updateId,
      fromLine: input.fromLine,
      limit: input.maxRows + 1,
    });
    const rows: UpdateRow[] = [];
    const problems: UpdateProblem[] = [];
    for (const row of kept.slice(0, input.maxRows)) {
      if ('update' in row) rows.push({ line: row.line, update: row.update });
      else {
        problems.push({
          line: row.line,
          ...(row.contactNumber !== undefined ? { contactNumber: row.contactNumber } : {}),
          reason: row.problem,
        });
      }
    }
    return { rows, problems, nextLine: kept[input.maxRows]?.line ?? null };
  }

  return { checkMassUpdateSource, applyMassUpdateChunk };
}

function resumeSnapshot(details: unknown): CrmQuerySnapshotProgress {
  if (details && typeof details === 'object') {
    const { after, line, done } = details as Partial<CrmQuerySnapshotProgress>;
    if (typeof line === 'number' && Number.isInteger(line) && line >= 0 && typeof done === 'boolean') {
      return { ...(typeof after === 'string' ? { after } : {}), line, done };
    }
  }
  return { line: 0, done: false };
}

function sourceOf(
  input: MassUpdateSource,
): { file: string } | { retryOf: string } | { crmQuery: MassUpdateCrmQuery } {
  if (input.retryOf !== undefined) return { retryOf: input.retryOf };
  if (input.file !== undefined) return { file: input.file };
  if (input.crmQuery !== undefined) return { crmQuery: input.crmQuery };
  throw ApplicationFailure.create({
    type: FailureType.InvalidUpdateFile,
    nonRetryable: true,
    message: 'A mass update needs a file, a CRM query, or the update whose parked rows to retry',
  });
}

async function filePage(file: string, input: ApplyMassUpdateChunkInput) {
  return fileFailure(() => readUpdates(file, { fromLine: input.fromLine, maxRows: input.maxRows }));
}

/** Runs a read of the update file; a file that cannot be used fails for good, saying why. */
async function fileFailure<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof UpdateFileError) {
      throw ApplicationFailure.create({
        type: FailureType.InvalidUpdateFile,
        nonRetryable: true,
        message: err.message,
        cause: err,
      });
    }
    throw err;
  }
}
