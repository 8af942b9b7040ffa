import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  isCancellation,
  log,
  setHandler,
  workflowInfo,
  type QueryDefinition,
} from '@temporalio/workflow';
import type { RetryPolicy, UpdateDefinition } from '@temporalio/common';
import { FailureType, nonRetryableFailureTypes } from '../failure-types';
import {
  resolveOutboundSettings,
  validateOutboundSettings,
  type OutboundSyncSettings,
} from './outbound-sync-settings';

/**
 * The loop every recurring sync workflow shares (outbound and inbound): one execution waits until a run is due
 * (every `intervalMinutes`, or at once on trigger) and the sync is not paused, performs one run, and hands its
 * state back to be carried into the next execution by continue-as-new — so that history stays small whatever the
 * backlog. Operators pause, resume, trigger and re-tune it by signal or update, and read its status by query.
 */

/** For steps that touch the store only: there is no better outcome than "done later", so retry until done. */
export const retryUntilDone: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
};
/** For steps that call S-360 or a CRM: retry with backoff (about an hour in all), then park what is left. */
export const retryThenPark: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '5 minutes',
  maximumAttempts: 20,
  nonRetryableErrorTypes: nonRetryableFailureTypes,
};

/** Counts of one run: named numbers. */
export type SyncRunCounts = object;

/** The last run as the status reports it: its counts and its start and end (ISO, workflow time). */
export type SyncRunSummary<Counts extends SyncRunCounts> = Counts & { startedAt: string; finishedAt: string };

/**
 * State carried from one execution to the next across continue-as-new. The next run time is not stored: it is
 * derived from the last run's start and the current interval, so that a new interval applies at once.
 */
export interface SyncCarriedState<Counts extends SyncRunCounts, Totals extends { runs: number }> {
  paused: boolean;
  /** A run was asked for (trigger) and has not happened yet. */
  triggerPending: boolean;
  /** Epoch ms (workflow time) of the last run's start; null before the first run. */
  lastRunStartedAtMs: number | null;
  lastRun: SyncRunSummary<Counts> | null;
  totals: Totals;
  /** Why the sync paused itself (refused credentials, a configuration error); cleared by resume. */
  pausedReason?: string | null;
}

/** The answer of {@link syncStatusQuery} (and of the pause/resume/trigger updates). */
export interface SyncStatus<Counts extends SyncRunCounts, Totals extends { runs: number }> {
  target: string;
  state: 'waiting' | 'running' | 'paused';
  settings: OutboundSyncSettings;
  /** When the next run starts (ISO); null while paused. */
  nextRunAt: string | null;
  /** Why the sync paused itself, if it did (a configuration error: fix it, then resume). */
  pausedReason: string | null;
  lastRun: SyncRunSummary<Counts> | null;
  totals: Totals;
}

type AnyStatus = SyncStatus<SyncRunCounts, { runs: number }>;

/** Stops starting runs (a run in progress finishes). */
export const pauseSignal = defineSignal('pause');
/** Starts runs again; a run that fell due while paused starts at once. */
export const resumeSignal = defineSignal('resume');
/**
 * Runs now, whatever the interval. While paused, the run waits for resume (and then starts at once). A trigger
 * during a run asks for another run right after it.
 */
export const triggerSignal = defineSignal('trigger');
/** {@link pauseSignal}, acknowledged: returns the status once the workflow has applied it. */
export const syncPauseUpdate = defineUpdate<AnyStatus>('pauseUpdate');
/** {@link resumeSignal}, acknowledged: returns the status once the workflow has applied it. */
export const syncResumeUpdate = defineUpdate<AnyStatus>('resumeUpdate');
/** {@link triggerSignal}, acknowledged: returns the status once the workflow has applied it. */
export const syncTriggerUpdate = defineUpdate<AnyStatus>('triggerUpdate');
/**
 * Changes some settings; out-of-range values are rejected by the validator before anything changes (the caller
 * gets the messages, nothing is recorded in history). Returns the new settings. A new interval moves the next run
 * to the last run's start plus the new interval (at once if that is past).
 */
export const configureUpdate = defineUpdate<OutboundSyncSettings, [Partial<OutboundSyncSettings>]>(
  'configure',
);
/** The state, settings, next run time, last run's counts and running totals. */
export const syncStatusQuery = defineQuery<AnyStatus>('status');

/** The status query of a workflow whose status has these counts and totals. */
export function statusQueryOf<Status extends AnyStatus>(): QueryDefinition<Status> {
  return syncStatusQuery as unknown as QueryDefinition<Status>;
}
/** The pause, resume or trigger update of a workflow whose status has these counts and totals. */
export function statusUpdateOf<Status extends AnyStatus>(
  update: UpdateDefinition<AnyStatus>,
): UpdateDefinition<Status> {
  return update as unknown as UpdateDefinition<Status>;
}

export interface SyncLoopInput<Counts extends SyncRunCounts, Totals extends { runs: number }> {
  /** Names the sync in messages and logs. */
  name: 'outbound' | 'inbound';
  target: string;
  /** The settings given at start (validated here: invalid ones fail the workflow, naming them). */
  settings: Partial<OutboundSyncSettings> | undefined;
  /** State carried from the previous execution; absent on the first. */
  carried: SyncCarriedState<Counts, Totals> | undefined;
  /** The totals before any run: every key but `runs` is summed from the counts of the same name. */
  initialTotals: Totals;
  /** One run with the settings in force when it starts. */
  runOnce(settings: OutboundSyncSettings): Promise<Counts>;
}

/**
 * Validates the settings, installs the signal, update and query handlers, waits until a run is due and the sync
 * is not paused, runs once, and resolves with the settings and state to carry into the next execution, once every
 * handler has finished. Invalid settings fail the workflow at once (non-retryable `InvalidSettings`).
 */
export async function runSyncLoopOnce<Counts extends SyncRunCounts, Totals extends { runs: number }>(
  input: SyncLoopInput<Counts, Totals>,
): Promise<{ settings: OutboundSyncSettings; carried: SyncCarriedState<Counts, Totals> }> {
  const problems = validateOutboundSettings(input.settings ?? {});
  if (problems.length > 0) {
    throw ApplicationFailure.create({
      type: 'InvalidSettings',
      nonRetryable: true,
      message: `Invalid ${input.name} sync settings: ${problems.join('; ')}`,
    });
  }
  let settings = resolveOutboundSettings(input.settings);
  const state: SyncCarriedState<Counts, Totals> = input.carried ?? {
    paused: false,
    triggerPending: false,
    lastRunStartedAtMs: null,
    lastRun: null,
    totals: input.initialTotals,
  };
  let running = false;
  let wakeups = 0;

  const dueAtMs = (): number =>
    state.triggerPending || state.lastRunStartedAtMs === null
      ? Date.now()
      : state.lastRunStartedAtMs + settings.intervalMinutes * 60_000;
  const status = (): SyncStatus<Counts, Totals> => ({
    target: input.target,
    state: running ? 'running' : state.paused ? 'paused' : 'waiting',
    settings,
    nextRunAt: state.paused ? null : new Date(Math.max(dueAtMs(), Date.now())).toISOString(),
    pausedReason: state.pausedReason ?? null,
    lastRun: state.lastRun,
    totals: state.totals,
  });

  const pause = (): void => {
    state.paused = true;
    wakeups += 1;
  };
  const resume = (): void => {
    state.paused = false;
    state.pausedReason = null;
    wakeups += 1;
  };
  const trigger = (): void => {
    state.triggerPending = true;
    wakeups += 1;
  };
  setHandler(pauseSignal, pause);
  setHandler(resumeSignal, resume);
  setHandler(triggerSignal, trigger);
  setHandler(syncPauseUpdate, () => {
    pause();
    return status();
  });
  setHandler(syncResumeUpdate, () => {
    resume();
    return status();
  });
  setHandler(syncTriggerUpdate, () => {
    trigger();
    return status();
  });
  setHandler(
    configureUpdate,
    (changes) => {
      settings = { ...settings, ...definedOnly(changes) };
      wakeups += 1;
      return settings;
    },
    {
      validator: (changes) => {
        const invalid = validateOutboundSettings(changes ?? {});
        if (invalid.length > 0) throw new Error(invalid.join('; '));
      },
    },
  );
  setHandler(syncStatusQuery, status);

  // Wait until a run is due and the sync is not paused; any signal or update re-evaluates the deadline.
  for (;;) {
    if (!state.paused && Date.now() >= dueAtMs()) break;
    const seen = wakeups;
    const timeoutMs = state.paused ? undefined : dueAtMs() - Date.now();
    if (timeoutMs === undefined) await condition(() => wakeups !== seen);
    else await condition(() => wakeups !== seen, timeoutMs);
  }

  running = true;
  state.triggerPending = false;
  state.lastRunStartedAtMs = Date.now();
  const startedAt = new Date(state.lastRunStartedAtMs).toISOString();
  const counts = await input.runOnce(settings);
  running = false;
  log.info(`${input.name === 'outbound' ? 'Outbound' : 'Inbound'} sync run finished`, {
    target: input.target,
    ...counts,
  });
  state.lastRun = { ...counts, startedAt, finishedAt: new Date().toISOString() };
  const stoppedBy = (counts as { stoppedBy?: unknown }).stoppedBy;
  if (typeof stoppedBy === 'string') {
    // A configuration error stops the run: pause until an operator has fixed it, rather than park every contact.
    state.paused = true;
    state.pausedReason = stoppedBy;
    log.error(`${input.name === 'outbound' ? 'Outbound' : 'Inbound'} sync paused itself`, {
      target: input.target,
      reason: stoppedBy,
    });
  }
  state.totals = addToTotals(state.totals, counts);

  await condition(allHandlersFinished);
  return { settings, carried: state };
}

/** The totals with one more run: each total is raised by the run's count of the same name. */
function addToTotals<Totals extends { runs: number }>(totals: Totals, counts: object): Totals {
  const next: Record<string, number> = { ...(totals as unknown as Record<string, number>) };
  const runCounts = counts as Record<string, unknown>;
  for (const key of Object.keys(next)) {
    const count = runCounts[key];
    if (key === 'runs') next[key] = (next[key] ?? 0) + 1;
    else if (typeof count === 'number') next[key] = (next[key] ?? 0) + count;
  }
  return next as unknown as Totals;
}

function definedOnly(changes: Partial<OutboundSyncSettings>): Partial<OutboundSyncSettings> {
  return Object.fromEntries(
    Object.entries(changes ?? {}).filter(([, value]) => value !== undefined),
  ) as Partial<OutboundSyncSettings>;
}

/** The innermost failure message: the activity's own reason, not "Activity task failed". */
export function failureMessage(err: unknown): string {
  let current: unknown = err;
  while (current instanceof ActivityFailure && current.cause) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}

/** Whether an activity failed for a configuration reason (refused credentials, unknown target): pause, not park. */
export function isConfigurationFailure(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof ApplicationFailure &&
    err.cause.type === FailureType.Configuration
  );
}

/** The claim of the current run, `<workflowId>/<runId>`: a retried claim activity returns the same contacts. */
export function runClaimId(): string {
  const { workflowId, runId } = workflowInfo();
  return `${workflowId}/${runId}`;
}

/** What a park activity takes and answers (outbound and inbound alike). */
export type ParkActivity = (input: {
  target: string;
  claimId: string;
  contactNumbers: string[];
  code: string;
  reason: string;
}) => Promise<{ parked: number }>;

/**
 * Parks the contacts of a step that finally failed, with the failure's reason, and returns how many were parked.
 * If the store refuses to park (a non-retryable failure), the contacts stay in the outbox under this run's claim,
 * which the next run takes over: they are retried, not lost, and the sync goes on.
 */
export async function parkOrLeaveQueued(
  park: ParkActivity,
  input: { target: string; claimId: string; contactNumbers: string[]; code: string; failure: unknown },
): Promise<number> {
  const { target, claimId, contactNumbers, code } = input;
  if (contactNumbers.length === 0) return 0;
  const reason = failureMessage(input.failure);
  log.warn('Parking contacts after a failed step', { target, code, reason, contacts: contactNumbers.length });
  try {
    return (await park({ target, claimId, contactNumbers, code, reason })).parked;
  } catch (parkErr) {
    if (isCancellation(parkErr)) throw parkErr;
    log.error('Could not park contacts; they stay queued for the next run', {
      target,
      code,
      reason: failureMessage(parkErr),
      contacts: contactNumbers.length,
    });
    return 0;
  }
}
