import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  ImportActivities,
  ImportContactPageResult,
  ImportCriteria,
  ImportPageCounts,
} from '../activities/import-activity-types';
import { addImportPageCounts, emptyImportPageCounts } from './import-page-counts';
import { failureMessage, pauseSignal, resumeSignal, retryUntilDone } from './sync-loop';
import {
  importProgressText,
  importRate,
  resolveImportSettings,
  validateImportSettings,
  type ImportSettings,
} from './initial-import-settings';

export { pauseSignal, resumeSignal } from './sync-loop';

/** A part of the import: structures go first, so that their accounts are in the CRM before their relays. */
export interface ImportPhase {
  name: 'structures' | 'individuals';
  /** The import's list of this phase's contacts, in the sync store. */
  listId: string;
  criteria: ImportCriteria;
  /** Null until listed. */
  total: number | null;
  /** Position of the first contact not imported yet. */
  nextSeq: number;
}

/** Counts summed over the whole import. */
export interface ImportTotals extends ImportPageCounts {
  /** Contacts handled (each in exactly one of imported, rejected, parked, unchanged, leftToOutboundSync, heldRelays). */
  done: number;
  pages: number;
}

/** State carried across continue-as-new. */
export interface ImportCarriedState {
  startedAt: string;
  phases: ImportPhase[];
  totals: ImportTotals;
  paused: boolean;
  pausedReason: string | null;
  /** Pages to import again before new ones (their previous attempt failed and paused the import). */
  retryPages: Array<{ phase: ImportPhase['name']; fromSeq: number }>;
  /** (workflow time in ms, contacts done) after recent pages: the current rate. */
  samples: Array<[number, number]>;
  /**
   * Workflow time (ms) when the pages began or the import last resumed: no rate within the next minute (see
   * RATE_MEASURE_MS). Absent from states carried before it existed: measured long enough.
   */
  measuringSince?: number;
}

export interface InitialImportInput {
  /** The CRM target, as named in the configuration. */
  target: string;
  /** Which contacts: all by default. */
  criteria?: ImportCriteria;
  settings?: Partial<ImportSettings>;
  /** Set by the workflow itself when it continues as new. */
  carried?: ImportCarriedState;
}

export type ImportState = 'listing' | 'importing' | 'paused' | 'completed' | 'cancelled';

/** The answer of {@link importProgressQuery}, of the pause/resume updates and the workflow's result. */
export interface ImportProgress {
  target: string;
  state: ImportState;
  /** Contacts handled so far, and in all (null while listing). */
  done: number;
  total: number | null;
  /** The phase being imported. */
  phase: ImportPhase['name'] | null;
  /** Contacts per second over the last pages (null before two pages). */
  ratePerSecond: number | null;
  /** Seconds left at the current rate (null when unknown). */
  etaSeconds: number | null;
  pausedReason: string | null;
  settings: ImportSettings;
  totals: ImportTotals;
  startedAt: string;
  /** When the import completed or was cancelled. */
  finishedAt: string | null;
}

/** Done / total, the current rate and an ETA, the counts and the settings. */
export const importProgressQuery = defineQuery<ImportProgress>('importProgress');
/** {@link pauseSignal}, acknowledged: returns the progress once applied (pages in flight finish first). */
export const importPauseUpdate = defineUpdate<ImportProgress>('pauseUpdate');
/** {@link resumeSignal}, acknowledged: returns the progress once applied. */
export const importResumeUpdate = defineUpdate<ImportProgress>('resumeUpdate');

/** The workflow ID of a target's initial import: one import per CRM target at a time. */
export function initialImportWorkflowId(target: string): string {
  return `import:${target}`;
}

// Listing and importing call S-360 and the CRM: an outage is waited out (retry until done, at most every five
// minutes between attempts); a configuration failure (refused credentials, unknown target) pauses the import with
// its reason. They heartbeat every few seconds, so a page whose worker died is retried within 20 seconds. On
// cancellation the workflow waits until the pages in flight have stopped before releasing what they hold.
const { listImportContacts, importContactPage } = proxyActivities<ImportActivities>({
  startToCloseTimeout: '1 hour',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  heartbeatTimeout: '20 seconds',
  retry: { ...retryUntilDone, maximumInterval: '5 minutes', nonRetryableErrorTypes: ['Configuration'] },
  // Pages go through the task queue rather than straight to the worker that scheduled them (Temporal's eager
  // dispatch), so that the workers sharing a PostgreSQL store share the import's pages too.
  allowEagerDispatch: false,
});
const { releaseImport } = proxyActivities<ImportActivities>({
  startToCloseTimeout: '5 minutes',
  retry: retryUntilDone,
});

/** Pages per execution before continuing as new: keeps history small for any number of contacts. */
const pagesPerExecution = 100;
/** Pages the current rate is measured over. */
const rateSamples = 10;

/**
 * The initial import of a CRM target: lists the S-360 contacts chosen (structures, then individuals and relays),
 * then pushes them page by page, `concurrency` pages at a time, each page in payloads of at most `payloadSize`.
 * Survives worker crashes (a page resumes after its last confirmed push, and a push sent again carries the same
 * `webhook-id`), continues as new every {@link pagesPerExecution} pages, pauses and resumes by signal or update,
 * and on cancellation releases what it holds and returns how far it got. Start it with the ID
 * {@link initialImportWorkflowId}.
 */
export async function initialImport(input: InitialImportInput): Promise<ImportProgress> {
  const problems = validateImportSettings(input.settings ?? {});
  if (problems.length > 0) {
    throw ApplicationFailure.create({
      type: 'InvalidSettings',
      nonRetryable: true,
      message: `Invalid import settings: ${problems.join('; ')}`,
    });
  }
  const settings = resolveImportSettings(input.settings);
  const { workflowId, firstExecutionRunId } = workflowInfo();
  const importKey = `${workflowId}/${firstExecutionRunId}`;
  const state: ImportCarriedState = input.carried ?? {
    startedAt: new Date().toISOString(),
    phases: phasesOf(input.criteria ?? {}, importKey),
    totals: { ...emptyTotals() },
    paused: false,
    pausedReason: null,
    retryPages: [],
    samples: [],
  };
  let listing = state.phases.some((phase) => phase.total === null);
  let currentPhase: ImportPhase | null = null;
  let finished: { state: 'completed' | 'cancelled'; at: string } | null = null;

  const progress = (): ImportProgress => {
    const total = listing ? null : state.phases.reduce((sum, phase) => sum + (phase.total ?? 0), 0);
    const rate = importRate(state.samples, state.measuringSince ?? 0);
    return {
      target: input.target,
      state: finished?.state ?? (state.paused ? 'paused' : listing ? 'listing' : 'importing'),
      done: state.totals.done,
      total,
      phase: currentPhase?.name ?? null,
      ratePerSecond: rate,
      etaSeconds:
        total !== null && rate !== null && rate > 0 ? Math.ceil((total - state.totals.done) / rate) : null,
      pausedReason: state.pausedReason,
      settings,
      totals: { ...state.totals },
      startedAt: state.startedAt,
      finishedAt: finished?.at ?? null,
    };
  };
  const showProgress = (): void => setCurrentDetails(importProgressText(progress()));
  const pause = (): void => {
    state.paused = true;
    showProgress();
  };
  /** The rate is measured afresh from now on: from the first page, and after a pause. */
  const startMeasuring = (): void => {
    state.samples = [[Date.now(), state.totals.done]];
    state.measuringSince = Date.now();
  };
  const resume = (): void => {
    state.paused = false;
    state.pausedReason = null;
    // The time spent paused is not part of the rate, and the budget's burst comes again.
    startMeasuring();
    showProgress();
  };
  setHandler(importProgressQuery, progress);
  setHandler(pauseSignal, pause);
  setHandler(resumeSignal, resume);
  setHandler(importPauseUpdate, () => {
    pause();
    return progress();
  });
  setHandler(importResumeUpdate, () => {
    resume();
    return progress();
  });

  const claimIdOf = (phase: ImportPhase, fromSeq: number): string => `${importKey}/${phase.name}/${fromSeq}`;
  const end = async (how: 'completed' | 'cancelled'): Promise<ImportProgress> => {
    const released = await releaseImport({
      target: input.target,
      claimIdPrefix: `${importKey}/`,
      listIds: state.phases.map((phase) => phase.listId),
    });
    finished = { state: how, at: new Date().toISOString() };
    showProgress();
    log.info(`Initial import ${how}`, { target: input.target, done: state.totals.done, released });
    return progress();
  };

  try {
    showProgress();
    for (const phase of state.phases) {
      if (phase.total !== null) continue;
      await condition(() => !state.paused);
      currentPhase = phase;
      try {
        const listed = await listImportContacts({
          listId: phase.listId,
          criteria: phase.criteria,
          searchPageSize: settings.searchPageSize,
        });
        phase.total = listed.listed;
      } catch (err) {
        if (isCancellation(err)) throw err;
        // Refused credentials or an unknown target: paused until an operator fixes it and resumes.
        state.pausedReason = failureMessage(err);
        pause();
        await condition(() => !state.paused);
        return continueAsNew<typeof initialImport>({ ...input, carried: state });
      }
    }
    listing = false;
    if (state.samples.length === 0) startMeasuring();
    showProgress();

    let pagesThisExecution = 0;
    const importPage = async (phase: ImportPhase, fromSeq: number, firstTry: boolean): Promise<void> => {
      let result: ImportContactPageResult;
      try {
        result = await importContactPage({
          target: input.target,
          listId: phase.listId,
          claimId: claimIdOf(phase, fromSeq),
          fromSeq,
          count: settings.pageSize,
          payloadSize: settings.payloadSize,
          firstTry,
        });
      } catch (err) {
        if (isCancellation(err)) throw err;
        state.retryPages.push({ phase: phase.name, fromSeq });
        state.pausedReason ??= failureMessage(err);
        pause();
        return;
      }
      addPage(state.totals, result);
      state.samples = [...state.samples, [Date.now(), state.totals.done] as [number, number]].slice(
        -rateSamples,
      );
      showProgress();
    };

    for (const phase of state.phases) {
      currentPhase = phase;
      for (;;) {
        await condition(() => !state.paused);
        const total = phase.total ?? 0;
        if (phase.nextSeq >= total && !state.retryPages.some((page) => page.phase === phase.name)) break;
        if (pagesThisExecution >= pagesPerExecution || workflowInfo().continueAsNewSuggested) {
          return continueAsNew<typeof initialImport>({ ...input, carried: state });
        }
        // Lanes take pages until the phase is done, the import pauses or this execution has had its share.
        const lane = async (): Promise<void> => {
          while (!state.paused && pagesThisExecution < pagesPerExecution) {
            const retry = state.retryPages.findIndex((page) => page.phase === phase.name);
            let fromSeq: number;
            if (retry >= 0) {
              fromSeq = state.retryPages[retry]?.fromSeq ?? 0;
              state.retryPages.splice(retry, 1);
            } else if (phase.nextSeq < total) {
              fromSeq = phase.nextSeq;
              phase.nextSeq += settings.pageSize;
            } else {
              return;
            }
            pagesThisExecution += 1;
            await importPage(phase, fromSeq, retry < 0);
          }
        };
        await Promise.all(Array.from({ length: settings.concurrency }, lane));
      }
    }
    return await end('completed');
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled: pages in flight stop after their current contact; what the import still holds goes back to the
    // outbound sync (changes of their own) or is dropped (held only for the import), and the result says how far it
    // got. The CRM holds whole records only: each push is applied record by record.
    return await CancellationScope.nonCancellable(() => end('cancelled'));
  }
}

function phasesOf(criteria: ImportCriteria, importKey: string): ImportPhase[] {
  const phase = (name: ImportPhase['name'], contactType: 'STRUCTURE' | 'INDIVIDUAL'): ImportPhase => ({
    name,
    listId: `${importKey}/${name}`,
    criteria: { ...criteria, contactType },
    total: null,
    nextSeq: 0,
  });
  const phases: ImportPhase[] = [];
  if (criteria.contactType !== 'INDIVIDUAL') phases.push(phase('structures', 'STRUCTURE'));
  if (criteria.contactType !== 'STRUCTURE') phases.push(phase('individuals', 'INDIVIDUAL'));
  return phases;
}

function emptyTotals(): ImportTotals {
  return { done: 0, pages: 0, ...emptyImportPageCounts() };
}

function addPage(totals: ImportTotals, page: ImportContactPageResult): void {
  const { contacts, ...counts } = page;
  totals.done += contacts;
  totals.pages += 1;
  addImportPageCounts(totals, counts);
}
