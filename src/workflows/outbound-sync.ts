import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { RetryPolicy } from '@temporalio/common';
import type { HeldRelay, OutboundActivities } from '../activities/outbound-activity-types';
import { nonRetryableFailureTypes } from '../failure-types';
import {
  resolveOutboundSettings,
  validateOutboundSettings,
  type OutboundSyncSettings,
} from './outbound-sync-settings';

/** Counts of one sync run. */
export interface OutboundRunCounts {
  /** Contacts taken from the outbox. */
  claimed: number;
  /** Contacts fetched, mapped and staged for a push. */
  prepared: number;
  /** Contacts the CRM accepted (acknowledged in the outbox). */
  delivered: number;
  /** Contacts the CRM refused (parked with the CRM's reason). */
  rejected: number;
  /** Contacts parked before reaching the CRM (unknown in S-360, invalid data, retries exhausted). */
  parked: number;
  /** Pushes the CRM had already applied (re-pushes after a lost answer). */
  duplicates: number;
  /** Pushes prepared. */
  batches: number;
  /** Relays given back to the outbox because their structure's account is not in the CRM yet. */
  heldRelays?: number;
}

/** The last run as the status reports it: its counts and its start and end (ISO, workflow time). */
export interface OutboundRunSummary extends OutboundRunCounts {
  startedAt: string;
  finishedAt: string;
}

/** Counts summed over every run since the workflow was started (kept across continue-as-new). */
export interface OutboundTotals {
  runs: number;
  claimed: number;
  delivered: number;
  rejected: number;
  parked: number;
  duplicates: number;
}

/**
 * State carried from one execution to the next across continue-as-new. The next run time is not stored: it is
 * derived from the last run's start and the current interval, so that a new interval applies at once.
 */
export interface OutboundCarriedState {
  paused: boolean;
  /** A run was asked for (trigger) and has not happened yet. */
  triggerPending: boolean;
  /** Epoch ms (workflow time) of the last run's start; null before the first run. */
  lastRunStartedAtMs: number | null;
  lastRun: OutboundRunSummary | null;
  totals: OutboundTotals;
}

/** The input of {@link outboundSync}: a target, optional settings (defaults apply), and carried state. */
export interface OutboundSyncInput {
  /** The CRM target, as named in the configuration. */
  target: string;
  settings?: Partial<OutboundSyncSettings>;
  /** Set by the workflow itself when it continues as new. */
  carried?: OutboundCarriedState;
}

/** The answer of {@link statusQuery} (and of the pause/resume/trigger updates). */
export interface OutboundSyncStatus {
  target: string;
  state: 'waiting' | 'running' | 'paused';
  settings: OutboundSyncSettings;
  /** When the next run starts (ISO); null while paused. */
  nextRunAt: string | null;
  lastRun: OutboundRunSummary | null;
  totals: OutboundTotals;
}

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
export const pauseUpdate = defineUpdate<OutboundSyncStatus>('pauseUpdate');
/** {@link resumeSignal}, acknowledged: returns the status once the workflow has applied it. */
export const resumeUpdate = defineUpdate<OutboundSyncStatus>('resumeUpdate');
/** {@link triggerSignal}, acknowledged: returns the status once the workflow has applied it. */
export const triggerUpdate = defineUpdate<OutboundSyncStatus>('triggerUpdate');
/**
 * Changes some settings; out-of-range values are rejected by the validator before anything changes (the caller
 * gets the messages, nothing is recorded in history). Returns the new settings. A new interval moves the next run
 * to the last run's start plus the new interval (at once if that is past).
 */
export const configureUpdate = defineUpdate<OutboundSyncSettings, [Partial<OutboundSyncSettings>]>(
  'configure',
);
/** The state, settings, next run time, last run's counts and running totals. */
export const statusQuery = defineQuery<OutboundSyncStatus>('status');

/** The workflow ID of a target's outbound sync: a business ID, one workflow per CRM target. */
export function outboundSyncWorkflowId(target: string): string {
  return `outbound-sync:${target}`;
}

const retryUntilDone: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
};
const retryThenPark: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '5 minutes',
  maximumAttempts: 20,
  nonRetryableErrorTypes: nonRetryableFailureTypes,
};

// Claiming touches the store only, and there is no better outcome than "claimed later": retry until the store
// answers (a retried claim returns the same contacts), polling at most once a minute. A non-retryable failure (an
// unknown target) fails the workflow, visibly.
const { claimOutboundContacts } = proxyActivities<OutboundActivities>({
  startToCloseTimeout: '1 minute',
  retry: retryUntilDone,
});
// Parking is the last resort of a batch: retry for as long as it takes, with room for a slow store. Releasing
// held relays touches the store only, likewise.
const { parkOutboundContacts, releaseHeldRelays } = proxyActivities<OutboundActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { ...retryUntilDone, maximumInterval: '5 minutes' },
});
// Fetching up to 50 contacts under the S-360 budget can take minutes; it heartbeats after every contact (a wait
// for a budget slot is at most one minute) and resumes from its last heartbeat on retry.
const { prepareOutboundPush } = proxyActivities<OutboundActivities>({
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '2 minutes',
  retry: retryThenPark,
});
const { deliverOutboundPush } = proxyActivities<OutboundActivities>({
  startToCloseTimeout: '5 minutes',
  retry: retryThenPark,
});

/** Pushes prepared or delivered at once within a run: keeps both APIs busy without bursting. */
const concurrentBatches = 2;

/**
 * The recurring S-360 -> CRM sync of one CRM target. Each execution waits until a run is due (every
 * `intervalMinutes`, or at once on trigger), performs one run — claim at most `maxContactsPerRun` pending contacts,
 * prepare and deliver them in pushes of at most `batchSize` — then continues as new with its settings and totals,
 * so that history stays small whatever the backlog. Invalid settings in the input fail the workflow at once
 * (non-retryable `InvalidSettings`). Start it with the ID {@link outboundSyncWorkflowId}.
 */
export async function outboundSync(input: OutboundSyncInput): Promise<never> {
  const problems = validateOutboundSettings(input.settings ?? {});
  if (problems.length > 0) {
    throw ApplicationFailure.create({
      type: 'InvalidSettings',
      nonRetryable: true,
      message: `Invalid outbound sync settings: ${problems.join('; ')}`,
    });
  }
  let settings = resolveOutboundSettings(input.settings);
  const state: OutboundCarriedState = input.carried ?? {
    paused: false,
    triggerPending: false,
    lastRunStartedAtMs: null,
    lastRun: null,
    totals: { runs: 0, claimed: 0, delivered: 0, rejected: 0, parked: 0, duplicates: 0 },
  };
  let running = false;
  let wakeups = 0;

  const dueAtMs = (): number =>
    state.triggerPending || state.lastRunStartedAtMs === null
      ? Date.now()
      : state.lastRunStartedAtMs + settings.intervalMinutes * 60_000;
  const status = (): OutboundSyncStatus => ({
    target: input.target,
    state: running ? 'running' : state.paused ? 'paused' : 'waiting',
    settings,
    nextRunAt: state.paused ? null : new Date(Math.max(dueAtMs(), Date.now())).toISOString(),
    lastRun: state.lastRun,
    totals: state.totals,
  });

  const pause = (): void => {
    state.paused = true;
    wakeups += 1;
  };
  const resume = (): void => {
    state.paused = false;
    wakeups += 1;
  };
  const trigger = (): void => {
    state.triggerPending = true;
    wakeups += 1;
  };
  setHandler(pauseSignal, pause);
  setHandler(resumeSignal, resume);
  setHandler(triggerSignal, trigger);
  setHandler(pauseUpdate, () => {
    pause();
    return status();
  });
  setHandler(resumeUpdate, () => {
    resume();
    return status();
  });
  setHandler(triggerUpdate, () => {
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
  setHandler(statusQuery, status);

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
  const counts = await syncOnce(input.target, settings);
  running = false;
  state.lastRun = { ...counts, startedAt, finishedAt: new Date().toISOString() };
  state.totals = {
    runs: state.totals.runs + 1,
    claimed: state.totals.claimed + counts.claimed,
    delivered: state.totals.delivered + counts.delivered,
    rejected: state.totals.rejected + counts.rejected,
    parked: state.totals.parked + counts.parked,
    duplicates: state.totals.duplicates + counts.duplicates,
  };
  log.info('Outbound sync run finished', { target: input.target, ...counts });

  await condition(allHandlersFinished);
  return continueAsNew<typeof outboundSync>({ target: input.target, settings, carried: state });
}

/** One run: claim, then prepare and deliver each batch; a batch that finally fails is parked, not dropped. */
async function syncOnce(target: string, settings: OutboundSyncSettings): Promise<OutboundRunCounts> {
  const { workflowId, runId } = workflowInfo();
  const claimId = `${workflowId}/${runId}`;
  const counts: OutboundRunCounts = {
    claimed: 0,
    prepared: 0,
    delivered: 0,
    rejected: 0,
    parked: 0,
    duplicates: 0,
    batches: 0,
  };
  const { contactNumbers } = await claimOutboundContacts({
    target,
    claimId,
    limit: settings.maxContactsPerRun,
  });
  counts.claimed = contactNumbers.length;
  const batches: string[][] = [];
  for (let start = 0; start < contactNumbers.length; start += settings.batchSize) {
    batches.push(contactNumbers.slice(start, start + settings.batchSize));
  }

  const park = async (contacts: string[], code: string, err: unknown): Promise<void> => {
    if (contacts.length === 0) return;
    const reason = failureMessage(err);
    log.warn('Parking contacts after a failed step', { target, code, reason, contacts: contacts.length });
    try {
      await parkOutboundContacts({ target, claimId, contactNumbers: contacts, code, reason });
      counts.parked += contacts.length;
    } catch (parkErr) {
      if (isCancellation(parkErr)) throw parkErr;
      // Only a non-retryable failure gets here. The contacts stay in the outbox under this run's claim, which the
      // next run takes over: they are retried, not lost, and the sync goes on.
      log.error('Could not park contacts; they stay queued for the next run', {
        target,
        code,
        reason: failureMessage(parkErr),
        contacts: contacts.length,
      });
    }
  };

  let heldRelays: HeldRelay[] = [];
  const syncBatch = async (batchKey: string, batch: string[]): Promise<void> => {
    const pushId = `${claimId}/${batchKey}`;
    counts.batches += 1;
    let staged: string[];
    try {
      const prepared = await prepareOutboundPush({ target, claimId, pushId, contactNumbers: batch });
      counts.prepared += prepared.prepared;
      counts.parked += prepared.parked;
      staged = prepared.stagedContactNumbers;
      heldRelays.push(...prepared.heldRelays);
    } catch (err) {
      if (isCancellation(err)) throw err;
      return park(batch, 'PREPARE_FAILED', err);
    }
    if (staged.length === 0) return;
    try {
      const delivered = await deliverOutboundPush({ target, claimId, pushId });
      counts.delivered += delivered.delivered;
      counts.rejected += delivered.rejected;
      if (delivered.duplicate) counts.duplicates += 1;
    } catch (err) {
      if (isCancellation(err)) throw err;
      await park(staged, 'DELIVERY_FAILED', err);
    }
  };

  const syncAll = async (allBatches: string[][], keyPrefix: string): Promise<void> => {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < allBatches.length) {
        const batchIndex = next;
        next += 1;
        await syncBatch(`${keyPrefix}${batchIndex}`, allBatches[batchIndex] ?? []);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrentBatches, allBatches.length) }, lane));
  };
  await syncAll(batches, '');

  // Relays held back for their account: the accounts delivered by this run are in the CRM now, so try those relays
  // once more; the ones still waiting go back to the outbox, with their structures queued.
  if (heldRelays.length > 0) {
    const retry = heldRelays.map((relay) => relay.contactNumber);
    heldRelays = [];
    const relayBatches: string[][] = [];
    for (let start = 0; start < retry.length; start += settings.batchSize) {
      relayBatches.push(retry.slice(start, start + settings.batchSize));
    }
    await syncAll(relayBatches, 'relays-');
  }
  if (heldRelays.length > 0) {
    const released = await releaseHeldRelays({ target, claimId, relays: heldRelays });
    counts.heldRelays = released.released;
    counts.parked += released.parked;
  }
  return counts;
}

function definedOnly(changes: Partial<OutboundSyncSettings>): Partial<OutboundSyncSettings> {
  return Object.fromEntries(
    Object.entries(changes ?? {}).filter(([, value]) => value !== undefined),
  ) as Partial<OutboundSyncSettings>;
}

/** The innermost failure message: the activity's own reason, not "Activity task failed". */
function failureMessage(err: unknown): string {
  let current: unknown = err;
  while (current instanceof ActivityFailure && current.cause) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}
