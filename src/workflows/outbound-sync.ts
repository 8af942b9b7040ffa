import { continueAsNew, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { HeldRelay, OutboundActivities } from '../activities/outbound-activity-types';
import type { OutboundSyncSettings } from './outbound-sync-settings';
import {
  failureMessage,
  isConfigurationFailure,
  parkOrLeaveQueued,
  runClaimId,
  retryThenPark,
  retryUntilDone,
  runSyncLoopOnce,
  statusQueryOf,
  statusUpdateOf,
  syncPauseUpdate,
  syncResumeUpdate,
  syncTriggerUpdate,
  type SyncCarriedState,
  type SyncRunSummary,
  type SyncStatus,
} from './sync-loop';

export { configureUpdate, pauseSignal, resumeSignal, triggerSignal } from './sync-loop';

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
  /** Contacts equal to the last state synced (crm-sync's own inbound write notified back): not pushed. */
  echoes?: number;
  /** Set when a configuration error stopped the run (the sync pauses itself with it). */
  stoppedBy?: string;
}

/** The last run as the status reports it: its counts and its start and end (ISO, workflow time). */
export type OutboundRunSummary = SyncRunSummary<OutboundRunCounts>;

/** Counts summed over every run since the workflow was started (kept across continue-as-new). */
export interface OutboundTotals {
  runs: number;
  claimed: number;
  delivered: number;
  rejected: number;
  parked: number;
  duplicates: number;
}

/** State carried from one execution to the next across continue-as-new. */
export type OutboundCarriedState = SyncCarriedState<OutboundRunCounts, OutboundTotals>;

/** The input of {@link outboundSync}: a target, optional settings (defaults apply), and carried state. */
export interface OutboundSyncInput {
  /** The CRM target, as named in the configuration. */
  target: string;
  settings?: Partial<OutboundSyncSettings>;
  /** Set by the workflow itself when it continues as new. */
  carried?: OutboundCarriedState;
}

/** The answer of {@link statusQuery} (and of the pause/resume/trigger updates). */
export type OutboundSyncStatus = SyncStatus<OutboundRunCounts, OutboundTotals>;

/** {@link pauseSignal}, acknowledged: returns the status once the workflow has applied it. */
export const pauseUpdate = statusUpdateOf<OutboundSyncStatus>(syncPauseUpdate);
/** {@link resumeSignal}, acknowledged: returns the status once the workflow has applied it. */
export const resumeUpdate = statusUpdateOf<OutboundSyncStatus>(syncResumeUpdate);
/** {@link triggerSignal}, acknowledged: returns the status once the workflow has applied it. */
export const triggerUpdate = statusUpdateOf<OutboundSyncStatus>(syncTriggerUpdate);
/** The state, settings, next run time, last run's counts and running totals. */
export const statusQuery = statusQueryOf<OutboundSyncStatus>();

/** The workflow ID of a target's outbound sync: a business ID, one workflow per CRM target. */
export function outboundSyncWorkflowId(target: string): string {
  return `outbound-sync:${target}`;
}

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
  const { settings, carried } = await runSyncLoopOnce<OutboundRunCounts, OutboundTotals>({
    name: 'outbound',
    target: input.target,
    settings: input.settings,
    carried: input.carried,
    initialTotals: { runs: 0, claimed: 0, delivered: 0, rejected: 0, parked: 0, duplicates: 0 },
    runOnce: (current) => syncOnce(input.target, current),
  });
  return continueAsNew<typeof outboundSync>({ target: input.target, settings, carried });
}

/** One run: claim, then prepare and deliver each batch; a batch that finally fails is parked, not dropped. */
async function syncOnce(target: string, settings: OutboundSyncSettings): Promise<OutboundRunCounts> {
  const claimId = runClaimId();
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
    // Awaited before adding: `counts.parked += await ...` would read the count before another lane's park.
    const parked = await parkOrLeaveQueued(parkOutboundContacts, {
      target,
      claimId,
      contactNumbers: contacts,
      code,
      failure: err,
    });
    counts.parked += parked;
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
      if (prepared.echoes > 0) counts.echoes = (counts.echoes ?? 0) + prepared.echoes;
    } catch (err) {
      if (isCancellation(err)) throw err;
      if (isConfigurationFailure(err)) {
        counts.stoppedBy ??= failureMessage(err);
        return;
      }
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
      if (isConfigurationFailure(err)) {
        counts.stoppedBy ??= failureMessage(err);
        return;
      }
      await park(staged, 'DELIVERY_FAILED', err);
    }
  };

  const syncAll = async (allBatches: string[][], keyPrefix: string): Promise<void> => {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < allBatches.length && counts.stoppedBy === undefined) {
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
  if (heldRelays.length > 0 && counts.stoppedBy === undefined) {
    const retry = heldRelays.map((relay) => relay.contactNumber);
    heldRelays = [];
    const relayBatches: string[][] = [];
    for (let start = 0; start < retry.length; start += settings.batchSize) {
      relayBatches.push(retry.slice(start, start + settings.batchSize));
    }
    await syncAll(relayBatches, 'relays-');
  }
  if (heldRelays.length > 0 && counts.stoppedBy === undefined) {
    const released = await releaseHeldRelays({ target, claimId, relays: heldRelays });
    counts.heldRelays = released.released;
    counts.parked += released.parked;
  }
  return counts;
}
