import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { RetryPolicy } from '@temporalio/common';
import type {
  ApplyMassUpdateChunkResult,
  MassUpdateActivities,
  MassUpdateCrmQuery,
  MassUpdateSource,
} from '../activities/mass-update-activity-types';
import { FailureType, nonRetryableFailureTypes } from '../failure-types';
import { failureMessage } from './sync-loop';

/** The rate of a mass update unless told otherwise: S-360's limit, in calls per minute. */
export const defaultMassUpdatePerMinute = 180;
/** The highest rate a mass update accepts, in calls per minute. */
export const maxMassUpdatePerMinute = 100_000;
/** The longest a raised rate lasts: a week. */
export const maxRaiseMs = 7 * 24 * 60 * 60_000;
/** A chunk holds about this much work at the rate in force: a new rate applies within this time. */
const chunkSeconds = 5;
/** Chunks per execution before continuing as new (history stays small whatever the file's size). */
const defaultChunksPerExecution = 500;
/** A chunk starting at most this late keeps the pacing schedule (no drift); later (a pause), it starts a new one. */
const scheduleSlackMs = 1_000;

/** Counts since the mass update started (kept across continue-as-new). */
export interface MassUpdateCounts {
  /** Rows gone through, good or bad. */
  rows: number;
  /** Rows S-360 accepted. */
  applied: number;
  /** Rows parked with their line and reason. */
  parked: number;
  /** S-360 calls made. */
  calls: number;
}

/** State carried from one execution to the next across continue-as-new. */
export interface MassUpdateCarriedState {
  /** Where the next chunk starts; null once every row has been read. */
  nextLine: number | null;
  basePerMinute: number;
  /** A rate in force for a while (S-360 raised its limit), reverting to the base rate at `untilMs`. */
  raise: { perMinute: number; untilMs: number } | null;
  paused: boolean;
  /** Why the mass update paused itself (a chunk that kept failing); cleared by resume. */
  pausedReason: string | null;
  /** The rows to go through; null until counted. */
  totalRows: number | null;
  counts: MassUpdateCounts;
  /** Epoch ms (workflow time). */
  startedAtMs: number;
  /** When the next chunk may start, on the pacing schedule (epoch ms, workflow time). */
  nextChunkAtMs: number | null;
  /** Where the last chunk's share of time was counted from (epoch ms): a higher rate shortens that share. */
  scheduleFromMs?: number | null;
  /** The last chunk, for the achieved rate. */
  lastChunk: { startMs: number; calls: number } | null;
  /** Calls and time of the chunks paced without a pause in between: the achieved rate. */
  paced: { calls: number; ms: number };
  /** Paused since the last chunk started: the time in between is not paced time. */
  interrupted: boolean;
}

/** The input of {@link massUpdate}. */
export interface MassUpdateInput {
  /** Names the mass update: workflow ID `mass-update:<updateId>`, parked rows kept under it. */
  updateId: string;
  /** The update file, as the worker reads it (an absolute path). */
  file?: string;
  /** The records a query selects in a CRM target, each mapped back to an S-360 update, instead of a file. */
  crmQuery?: MassUpdateCrmQuery;
  /** Re-applies the parked rows of this mass update (those with an update) instead of reading a file. */
  retryOf?: string;
  /** S-360 calls per minute, 1..100000; default 180. */
  perMinute?: number;
  /** Chunks per execution before continuing as new; default 500. */
  chunksPerExecution?: number;
  /** Set by the workflow itself when it continues as new. */
  carried?: MassUpdateCarriedState;
}

/** The answer of {@link massUpdateStatusQuery}, of the pause/resume/raise-rate updates, and the result. */
export interface MassUpdateStatus {
  updateId: string;
  file: string | null;
  crmQuery: MassUpdateCrmQuery | null;
  retryOf: string | null;
  state: 'running' | 'paused' | 'completed';
  /** Why the mass update paused itself, if it did: fix the cause, then resume. */
  pausedReason: string | null;
  /** The rate in force, in calls per minute. */
  perMinute: number;
  basePerMinute: number;
  /** The raised rate and until when it lasts (ISO); null when none is in force. */
  raisedPerMinute: number | null;
  raisedUntil: string | null;
  /** The rows to go through; null while they are being counted. */
  totalRows: number | null;
  rowsDone: number;
  applied: number;
  parked: number;
  calls: number;
  /** Percent of the rows done, 0..100; null while the rows are being counted. */
  percentDone: number | null;
  /** The line the next chunk starts at; null once every row has been read. */
  nextLine: number | null;
  /** S-360 calls per minute achieved so far (pauses left out); null before the second chunk. */
  achievedPerMinute: number | null;
  startedAt: string;
  finishedAt: string | null;
  /** When the last row should be done at the rates in force (ISO); null while paused or once completed. */
  eta: string | null;
}

/** Stops starting chunks (the chunk in progress finishes). */
export const massUpdatePauseSignal = defineSignal('pause');
/** Starts chunks again. */
export const massUpdateResumeSignal = defineSignal('resume');
/** The rate `perMinute` for `forMs` milliseconds, then the base rate again; invalid values are ignored (logged). */
export const raiseRateSignal = defineSignal<[RaiseRate]>('raiseRate');
/** {@link massUpdatePauseSignal}, acknowledged: returns the status once applied. */
export const massUpdatePauseUpdate = defineUpdate<MassUpdateStatus>('pauseUpdate');
/** {@link massUpdateResumeSignal}, acknowledged: returns the status once applied. */
export const massUpdateResumeUpdate = defineUpdate<MassUpdateStatus>('resumeUpdate');
/**
 * {@link raiseRateSignal}, acknowledged: returns the status once applied; invalid values are rejected before
 * anything changes (the caller gets the message). The new rate applies from the next chunk, within 5 seconds.
 */
export const raiseRateUpdate = defineUpdate<MassUpdateStatus, [RaiseRate]>('raiseRateUpdate');
/** State, rates, counts, progress, achieved rate and ETA. */
export const massUpdateStatusQuery = defineQuery<MassUpdateStatus>('status');

/** A rate for a while: S-360 raised its limit until some time (or an operator wants to go slower). */
export interface RaiseRate {
  /** Calls per minute, 1..100000. */
  perMinute: number;
  /** For how long, in milliseconds: 1 ms to a week. */
  forMs: number;
}

/** The workflow ID of a mass update: `mass-update:<updateId>`. */
export function massUpdateWorkflowId(updateId: string): string {
  return `mass-update:${updateId}`;
}

/** What is wrong with a rate (calls per minute), if anything. */
export function validateMassUpdateRate(perMinute: unknown, name = 'perMinute'): string | undefined {
  return Number.isInteger(perMinute) &&
    (perMinute as number) >= 1 &&
    (perMinute as number) <= maxMassUpdatePerMinute
    ? undefined
    : `${name} must be an integer from 1 to ${maxMassUpdatePerMinute} (got ${String(perMinute)})`;
}

/** What is wrong with a raise, if anything. */
export function validateRaiseRate(raise: RaiseRate | undefined): string[] {
  const problems: string[] = [];
  const rate = validateMassUpdateRate(raise?.perMinute);
  if (rate) problems.push(rate);
  const forMs = raise?.forMs;
  if (!Number.isInteger(forMs) || (forMs as number) < 1 || (forMs as number) > maxRaiseMs) {
    problems.push(`forMs must be an integer from 1 to ${maxRaiseMs} (a week), got ${String(forMs)}`);
  }
  return problems;
}

const retryFor = (maximumAttempts: number): RetryPolicy => ({
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts,
  nonRetryableErrorTypes: nonRetryableFailureTypes,
});
// Counting reads the whole file once.
const { checkMassUpdateSource } = proxyActivities<MassUpdateActivities>({
  startToCloseTimeout: '30 minutes',
  retry: retryFor(5),
});
// A chunk is about 5 s of calls, but a budget shared with the syncs can make it wait up to a minute per slot; it
// heartbeats after each row, and a retry goes on from there. Throttling waits for S-360's Retry-After. A chunk
// that still fails pauses the mass update with the reason (resume tries it again): rows are never skipped.
const { applyMassUpdateChunk } = proxyActivities<MassUpdateActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '2 minutes',
  retry: retryFor(10),
});

/**
 * Applies a large set of contact updates to S-360 — the rows of an update file, the records of a CRM query, or the
 * parked rows of an earlier mass update — paced at `perMinute` S-360 calls per minute. It works in chunks of about
 * 5 seconds of calls at the rate in force and waits (workflow timers) until the chunk's share of time has passed,
 * so that a new rate, a raise or its end applies from the next chunk. Bad rows are parked with their line and reason by the activity and
 * the rest goes on. Pause, resume and raise-rate by signal or update; `status` by query; continues as new every
 * 500 chunks with its state. Returns the final status. Start it with the ID {@link massUpdateWorkflowId}.
 */
export async function massUpdate(input: MassUpdateInput): Promise<MassUpdateStatus> {
  const problems: string[] = [];
  if (typeof input.updateId !== 'string' || input.updateId === '') problems.push('updateId is required');
  const sources = [input.file, input.crmQuery, input.retryOf].filter((given) => given !== undefined);
  if (sources.length !== 1) {
    problems.push(
      'give one of a file, a CRM query (crmQuery), or the update whose parked rows to retry (retryOf)',
    );
  }
  if (
    input.crmQuery !== undefined &&
    (typeof input.crmQuery.target !== 'string' || typeof input.crmQuery.query !== 'string')
  ) {
    problems.push('crmQuery needs a target and a query');
  }
  const rateProblem = validateMassUpdateRate(input.perMinute ?? defaultMassUpdatePerMinute);
  if (rateProblem) problems.push(rateProblem);
  if (problems.length > 0) {
    throw ApplicationFailure.create({
      type: 'InvalidSettings',
      nonRetryable: true,
      message: `Invalid mass update: ${problems.join('; ')}`,
    });
  }
  const source: MassUpdateSource =
    input.file !== undefined
      ? { file: input.file }
      : input.crmQuery !== undefined
        ? { crmQuery: input.crmQuery }
        : { retryOf: input.retryOf as string };
  const chunksPerExecution = Math.max(1, input.chunksPerExecution ?? defaultChunksPerExecution);
  const state: MassUpdateCarriedState = input.carried ?? {
    // The first data line of a file (after its header), the first record of a query, any parked line.
    nextLine: input.file !== undefined ? 2 : input.crmQuery !== undefined ? 1 : 0,
    basePerMinute: input.perMinute ?? defaultMassUpdatePerMinute,
    raise: null,
    paused: false,
    pausedReason: null,
    totalRows: null,
    counts: { rows: 0, applied: 0, parked: 0, calls: 0 },
    startedAtMs: Date.now(),
    nextChunkAtMs: null,
    lastChunk: null,
    paced: { calls: 0, ms: 0 },
    interrupted: false,
  };
  let finishedAtMs: number | null = null;
  let wakeups = 0;

  const raiseInForce = (): MassUpdateCarriedState['raise'] =>
    state.raise && Date.now() < state.raise.untilMs ? state.raise : null;
  const rateInForce = (): number => raiseInForce()?.perMinute ?? state.basePerMinute;
  /**
   * When the next chunk may start: the last chunk's share of time at its rate, or shorter at a higher rate raised
   * since (so a raise shows within moments, not only after the wait in progress).
   */
  const dueAtMs = (): number => {
    if (state.nextChunkAtMs === null) return Number.NEGATIVE_INFINITY;
    const from = state.scheduleFromMs;
    if (!state.lastChunk || from === undefined || from === null) return state.nextChunkAtMs;
    return Math.min(state.nextChunkAtMs, from + (state.lastChunk.calls * 60_000) / rateInForce());
  };

  const etaMs = (): number | null => {
    if (state.paused || finishedAtMs !== null || state.totalRows === null) return null;
    let left = Math.max(0, state.totalRows - state.counts.rows);
    let at = Math.max(Date.now(), dueAtMs());
    const raise = raiseInForce();
    if (raise) {
      const rowsWhileRaised = ((raise.untilMs - at) * raise.perMinute) / 60_000;
      if (left <= rowsWhileRaised) return Math.round(at + (left * 60_000) / raise.perMinute);
      at = raise.untilMs;
      left -= rowsWhileRaised;
    }
    return Math.round(at + (left * 60_000) / state.basePerMinute);
  };

  const status = (): MassUpdateStatus => {
    const raise = raiseInForce();
    const eta = etaMs();
    return {
      updateId: input.updateId,
      file: input.file ?? null,
      crmQuery: input.crmQuery ?? null,
      retryOf: input.retryOf ?? null,
      state: finishedAtMs !== null ? 'completed' : state.paused ? 'paused' : 'running',
      pausedReason: state.pausedReason,
      perMinute: rateInForce(),
      basePerMinute: state.basePerMinute,
      raisedPerMinute: raise?.perMinute ?? null,
      raisedUntil: raise ? new Date(raise.untilMs).toISOString() : null,
      totalRows: state.totalRows,
      rowsDone: state.counts.rows,
      applied: state.counts.applied,
      parked: state.counts.parked,
      calls: state.counts.calls,
      percentDone:
        state.totalRows === null
          ? null
          : state.totalRows === 0
            ? 100
            : Math.floor((state.counts.rows / state.totalRows) * 1000) / 10,
      nextLine: state.nextLine,
      achievedPerMinute:
        state.paced.ms > 0 ? Math.round((state.paced.calls * 60_000) / state.paced.ms) : null,
      startedAt: new Date(state.startedAtMs).toISOString(),
      finishedAt: finishedAtMs !== null ? new Date(finishedAtMs).toISOString() : null,
      eta: eta !== null ? new Date(eta).toISOString() : null,
    };
  };

  /** What the Web UI shows for the workflow. */
  const showDetails = (): void => {
    const current = status();
    const rows =
      current.totalRows === null
        ? `${current.rowsDone} rows (counting)`
        : `${current.rowsDone} / ${current.totalRows} rows (${current.percentDone}%)`;
    const rate = current.raisedPerMinute
      ? `${current.perMinute}/min until ${current.raisedUntil} (then ${current.basePerMinute}/min)`
      : `${current.perMinute}/min`;
    setCurrentDetails(
      [
        `**Mass update ${current.updateId}**: ${current.state}${current.pausedReason ? ` (${current.pausedReason})` : ''}`,
        current.crmQuery
          ? `from CRM ${current.crmQuery.target}: ${current.crmQuery.query}`
          : current.retryOf
            ? `the parked rows of ${current.retryOf}`
            : `from ${current.file ?? ''}`,
        `${rows}: ${current.applied} applied, ${current.parked} parked`,
        `rate ${rate}${current.achievedPerMinute !== null ? `, achieved ${current.achievedPerMinute}/min` : ''}`,
        ...(current.eta ? [`ETA ${current.eta}`] : []),
      ].join('\n\n'),
    );
  };

  const pause = (): void => {
    state.paused = true;
    state.interrupted = true;
    wakeups += 1;
    showDetails();
  };
  const resume = (): void => {
    state.paused = false;
    state.pausedReason = null;
    wakeups += 1;
    showDetails();
  };
  const raiseRate = (raise: RaiseRate): void => {
    state.raise = { perMinute: raise.perMinute, untilMs: Date.now() + raise.forMs };
    wakeups += 1;
    showDetails();
  };
  setHandler(massUpdatePauseSignal, pause);
  setHandler(massUpdateResumeSignal, resume);
  setHandler(raiseRateSignal, (raise) => {
    const invalid = validateRaiseRate(raise);
    if (invalid.length > 0) log.warn('Ignoring an invalid raiseRate signal', { problems: invalid });
    else raiseRate(raise);
  });
  setHandler(massUpdatePauseUpdate, () => {
    pause();
    return status();
  });
  setHandler(massUpdateResumeUpdate, () => {
    resume();
    return status();
  });
  setHandler(
    raiseRateUpdate,
    (raise) => {
      raiseRate(raise);
      return status();
    },
    {
      validator: (raise) => {
        const invalid = validateRaiseRate(raise);
        if (invalid.length > 0) throw new Error(invalid.join('; '));
      },
    },
  );
  setHandler(massUpdateStatusQuery, status);

  if (state.totalRows === null) {
    showDetails();
    try {
      state.totalRows = (await checkMassUpdateSource({ updateId: input.updateId, ...source })).totalRows;
    } catch (err) {
      if (isCancellation(err)) throw err;
      throw ApplicationFailure.create({
        type: isInvalidFile(err) ? FailureType.InvalidUpdateFile : 'SourceUnavailable',
        nonRetryable: true,
        message: `Mass update ${input.updateId}: ${failureMessage(err)}`,
      });
    }
    log.info('Mass update started', { updateId: input.updateId, totalRows: state.totalRows, ...source });
  }

  let chunks = 0;
  while (state.nextLine !== null) {
    if (chunks >= chunksPerExecution || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof massUpdate>({ ...input, carried: state });
    }
    showDetails();
    // Wait until the pacing schedule allows the next chunk and the mass update is not paused.
    for (;;) {
      const seen = wakeups;
      if (state.paused) {
        await condition(() => wakeups !== seen);
        continue;
      }
      const waitMs = dueAtMs() - Date.now();
      if (waitMs <= 0) break;
      await condition(() => wakeups !== seen, waitMs);
    }
    if (state.nextChunkAtMs !== null) state.nextChunkAtMs = dueAtMs();

    const rate = rateInForce();
    const raise = raiseInForce();
    if (!raise) state.raise = null;
    const chunkStartMs = Date.now();
    if (state.lastChunk && !state.interrupted) {
      state.paced.calls += state.lastChunk.calls;
      state.paced.ms += chunkStartMs - state.lastChunk.startMs;
    }
    state.interrupted = false;
    let result: ApplyMassUpdateChunkResult;
    try {
      result = await applyMassUpdateChunk({
        updateId: input.updateId,
        ...source,
        fromLine: state.nextLine,
        maxRows: Math.max(1, Math.ceil((rate * chunkSeconds) / 60)),
        perMinute: rate,
        raisedUntilMs: raise?.untilMs ?? null,
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Rows are never skipped: pause with the reason, and resume tries the same chunk again.
      state.pausedReason = `the chunk from line ${state.nextLine} failed: ${failureMessage(err)}`;
      log.error('Mass update paused itself', { updateId: input.updateId, reason: state.pausedReason });
      state.lastChunk = null;
      pause();
      continue;
    }
    state.counts.rows += result.rows;
    state.counts.applied += result.applied;
    state.counts.parked += result.parked;
    state.counts.calls += result.calls;
    state.nextLine = result.nextLine;
    // The chunk's share of time at its rate, counted from the schedule while on it (no drift), else from now.
    const onSchedule = state.nextChunkAtMs !== null && chunkStartMs - state.nextChunkAtMs <= scheduleSlackMs;
    const scheduleFrom = onSchedule && state.nextChunkAtMs !== null ? state.nextChunkAtMs : chunkStartMs;
    state.nextChunkAtMs = scheduleFrom + (result.calls * 60_000) / rate;
    state.scheduleFromMs = scheduleFrom;
    state.lastChunk = { startMs: chunkStartMs, calls: result.calls };
    chunks += 1;
  }

  // The last chunk counts for its share of time at its rate, or longer if it took longer.
  if (state.lastChunk && !state.interrupted) {
    const { startMs, calls } = state.lastChunk;
    state.paced.calls += calls;
    state.paced.ms += Math.max(Date.now(), state.nextChunkAtMs ?? 0) - startMs;
    state.lastChunk = null;
  }
  finishedAtMs = Date.now();
  showDetails();
  log.info('Mass update completed', { updateId: input.updateId, ...state.counts });
  await condition(allHandlersFinished);
  return status();
}

function isInvalidFile(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof ApplicationFailure &&
    err.cause.type === FailureType.InvalidUpdateFile
  );
}
