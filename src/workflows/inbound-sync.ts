import { continueAsNew, isCancellation, log, proxyActivities } from '@temporalio/workflow';
import type { InboundActivities } from '../activities/inbound-activity-types';
import type { PollActivities } from '../activities/poll-activity-types';
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
  type SyncCarriedState,
  type SyncRunSummary,
  type SyncStatus,
} from './sync-loop';

/** Counts of one inbound run. */
export interface InboundRunCounts {
  /** Changes read from the CRM's change list at the start of the run (polled targets only). */
  polled: number;
  /** CRM changes taken from the inbound queue. */
  claimed: number;
  /** Changes written to S-360. */
  applied: number;
  /** Records new in the CRM created as S-360 contacts. */
  created: number;
  /** CRM deletions: contacts flagged inactive in S-360. */
  deleted: number;
  /** crm-sync's own writes coming back from the CRM: not written again. */
  echoes: number;
  /** Changes that change nothing in S-360 once mapped. */
  unchanged: number;
  /** Changes parked with their reason. */
  parked: number;
  /** Batches applied. */
  batches: number;
  /** Set when a configuration error stopped the run (the sync pauses itself with it). */
  stoppedBy?: string;
}

/** Counts summed over every run since the workflow was started (kept across continue-as-new). */
export interface InboundTotals {
  runs: number;
  claimed: number;
  applied: number;
  deleted: number;
  echoes: number;
  parked: number;
}

export type InboundRunSummary = SyncRunSummary<InboundRunCounts>;
export type InboundCarriedState = SyncCarriedState<InboundRunCounts, InboundTotals>;
/** The answer of {@link inboundStatusQuery}. */
export type InboundSyncStatus = SyncStatus<InboundRunCounts, InboundTotals>;
/** The status of an inbound sync (the same `status` query as the outbound sync, with inbound counts). */
export const inboundStatusQuery = statusQueryOf<InboundSyncStatus>();

/** The input of {@link inboundSync}. */
export interface InboundSyncInput {
  target: string;
  /** Every M minutes (1..1440), at most S changes per run (<= 500), in batches of at most bs (<= 50). */
  settings?: Partial<OutboundSyncSettings>;
  /** Set by the workflow itself when it continues as new. */
  carried?: InboundCarriedState;
}

/** The workflow ID of a target's inbound sync. */
export function inboundSyncWorkflowId(target: string): string {
  return `inbound-sync:${target}`;
}

// Claiming and parking touch the store only: retry until it answers.
const { claimInboundChanges, parkInboundContacts } = proxyActivities<InboundActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { ...retryUntilDone, maximumInterval: '5 minutes' },
});
// Two S-360 calls per change under the shared budget: minutes for a batch; it heartbeats after every contact and
// acknowledges each one as it goes, so a retry only redoes the rest.
const { applyInboundChanges } = proxyActivities<InboundActivities>({
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '2 minutes',
  retry: retryThenPark,
});

// Polling the CRM's change list (targets that cannot call out): a few attempts, then the run goes on with what is
// queued and the next run polls again. It heartbeats after every page.
const { pollCrmChanges } = proxyActivities<PollActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '1 minute',
  retry: { ...retryThenPark, maximumInterval: '1 minute', maximumAttempts: 5 },
});

/**
 * The recurring CRM -> S-360 sync of one CRM target (ID {@link inboundSyncWorkflowId}): every `intervalMinutes`
 * (or at once on trigger) it claims at most `maxContactsPerRun` CRM changes stored by the receiver and applies them
 * to S-360 in batches of at most `batchSize`, then continues as new. A target with a change list is polled
 * first. Pause, resume, trigger, configure and status work as for the outbound sync.
 */
export async function inboundSync(input: InboundSyncInput): Promise<never> {
  const { settings, carried } = await runSyncLoopOnce<InboundRunCounts, InboundTotals>({
    name: 'inbound',
    target: input.target,
    settings: input.settings,
    carried: input.carried,
    initialTotals: { runs: 0, claimed: 0, applied: 0, deleted: 0, echoes: 0, parked: 0 },
    runOnce: (current) => inboundOnce(input.target, current),
  });
  return continueAsNew<typeof inboundSync>({ target: input.target, settings, carried });
}

async function inboundOnce(target: string, settings: OutboundSyncSettings): Promise<InboundRunCounts> {
  const claimId = runClaimId();
  const counts: InboundRunCounts = {
    polled: 0,
    claimed: 0,
    applied: 0,
    created: 0,
    deleted: 0,
    echoes: 0,
    unchanged: 0,
    parked: 0,
    batches: 0,
  };
  try {
    counts.polled = (await pollCrmChanges({ target })).received;
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn('Polling the CRM change list failed; applying what is queued', {
      target,
      reason: failureMessage(err),
    });
  }
  const { contactNumbers } = await claimInboundChanges({
    target,
    claimId,
    limit: settings.maxContactsPerRun,
  });
  counts.claimed = contactNumbers.length;
  // One batch at a time: S-360 writes share one budget with the outbound reads.
  for (let start = 0; start < contactNumbers.length; start += settings.batchSize) {
    const batch = contactNumbers.slice(start, start + settings.batchSize);
    counts.batches += 1;
    try {
      const result = await applyInboundChanges({ target, claimId, contactNumbers: batch });
      counts.applied += result.applied;
      counts.created += result.created;
      counts.deleted += result.deleted;
      counts.echoes += result.echoes;
      counts.unchanged += result.unchanged;
      counts.parked += result.parked;
    } catch (err) {
      if (isCancellation(err)) throw err;
      if (isConfigurationFailure(err)) {
        // Nothing is parked: the changes stay queued until the configuration is fixed and the sync resumed.
        counts.stoppedBy = failureMessage(err);
        break;
      }
      // Contacts the batch handled before the failure are no longer held by this claim: only the rest are parked.
      const parked = await parkOrLeaveQueued(parkInboundContacts, {
        target,
        claimId,
        contactNumbers: batch,
        code: 'APPLY_FAILED',
        failure: err,
      });
      counts.parked += parked;
    }
  }
  return counts;
}
