import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import type {
  ApplyInboundChangesInput,
  InboundActivities,
  ParkInboundContactsInput,
} from '../../src/activities/inbound-activity-types';
import type { PollActivities } from '../../src/activities/poll-activity-types';
import {
  configureUpdate,
  inboundStatusQuery,
  inboundSync,
  inboundSyncWorkflowId,
  pauseSignal,
  resumeSignal,
  triggerSignal,
  type InboundSyncStatus,
} from '../../src/workflows';
import { rejection } from '../helpers/rejection';
import { syncWorkflowHarness } from '../helpers/sync-workflow-harness';

jest.setTimeout(90_000);

const minute = 60_000;

/** What S-360 makes of one CRM change. */
type Outcome = 'applied' | 'deleted' | 'echo' | 'unchanged' | 'parked';

/** An in-memory inbound queue and S-360 for one target, recording every activity call. */
class FakeTarget {
  pending: string[] = [];
  /** Changes waiting in the CRM's change list: the poll at the start of a run queues them. */
  changeList: string[] = [];
  polls = 0;
  claims = new Map<string, string[]>();
  claimLimits: number[] = [];
  applyCalls: ApplyInboundChangesInput[] = [];
  parkCalls: ParkInboundContactsInput[] = [];
  /** Contacts written to S-360 (applied or flagged inactive), in order. */
  written: string[] = [];
  /** Starts and ends of apply calls, in order: one batch at a time shows as start, end, start, end... */
  applyEvents: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Contacts whose change is not a plain update (the rest are applied). */
  outcomes = new Map<string, Outcome>();
  /** A batch holding one of these fails for good (a non-retryable failure). */
  applyFails = new Set<string>();
  /** The store refuses to park (a non-retryable failure). */
  parkFails = false;
  /** While set, claims wait for it: a run that is in progress. */
  claimGate: Promise<void> | undefined;

  constructor(count = 0) {
    this.pending = Array.from({ length: count }, (_, i) => contact(i + 1));
  }
}

/** Contact numbers as S-360 writes them: digits with leading zeros. */
const contact = (n: number): string => String(n).padStart(10, '0');
const contacts = (from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => contact(from + i));

const targets = new Map<string, FakeTarget>();
const fake = (target: string): FakeTarget => {
  const found = targets.get(target);
  if (!found) throw new Error(`no fake target ${target}`);
  return found;
};

const activities: InboundActivities & PollActivities = {
  async pollCrmChanges({ target }) {
    const t = fake(target);
    t.polls += 1;
    const received = t.changeList.splice(0);
    t.pending.push(...received);
    return { received: received.length, pages: received.length > 0 ? 2 : 1 };
  },
  async claimInboundChanges({ target, claimId, limit }) {
    const t = fake(target);
    t.claimLimits.push(limit);
    await t.claimGate;
    if (!t.claims.has(claimId)) t.claims.set(claimId, t.pending.splice(0, limit));
    return { contactNumbers: t.claims.get(claimId) ?? [] };
  },
  async applyInboundChanges(input) {
    const t = fake(input.target);
    const call = t.applyCalls.push(input) - 1;
    t.inFlight += 1;
    t.maxInFlight = Math.max(t.maxInFlight, t.inFlight);
    t.applyEvents.push(`start ${call}`);
    try {
      // Long enough for a second batch to overlap if the workflow started one.
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (input.contactNumbers.some((n) => t.applyFails.has(n))) {
        throw ApplicationFailure.create({
          type: 'Permanent',
          nonRetryable: true,
          message: 'S-360 answered 400',
        });
      }
      const result = { applied: 0, created: 0, deleted: 0, echoes: 0, unchanged: 0, parked: 0 };
      for (const n of input.contactNumbers) {
        const outcome = t.outcomes.get(n) ?? 'applied';
        if (outcome === 'applied' || outcome === 'deleted') t.written.push(n);
        if (outcome === 'applied') result.applied += 1;
        else if (outcome === 'deleted') result.deleted += 1;
        else if (outcome === 'echo') result.echoes += 1;
        else if (outcome === 'unchanged') result.unchanged += 1;
        else result.parked += 1;
      }
      return result;
    } finally {
      t.inFlight -= 1;
      t.applyEvents.push(`end ${call}`);
    }
  },
  async parkInboundContacts(input) {
    const t = fake(input.target);
    t.parkCalls.push(input);
    if (t.parkFails) {
      throw ApplicationFailure.create({
        type: 'Configuration',
        nonRetryable: true,
        message: 'store refused',
      });
    }
    return { parked: input.contactNumbers.length };
  },
};

describe('inboundSync workflow (time skipping)', () => {
  const harness = syncWorkflowHarness<InboundSyncStatus, FakeTarget>({
    taskQueue: 'inbound-sync-test',
    activities,
    workflow: inboundSync,
    workflowId: inboundSyncWorkflowId,
    statusQuery: inboundStatusQuery,
    targets,
  });
  const { withWorker, start } = harness;

  it('runs at start, then every interval, claiming at most maxContactsPerRun in batches of at most batchSize, one at a time', () =>
    withWorker(async () => {
      const t = new FakeTarget(25);
      const { target, handle, status, afterRuns } = await start(t, {
        maxContactsPerRun: 10,
        batchSize: 4,
        intervalMinutes: 30,
      });

      // The first run happens at start.
      const first = await afterRuns(1);
      const startedAt = Date.parse(first.lastRun?.startedAt ?? '');
      expect(Math.abs(startedAt - (await handle.describe()).startTime.getTime())).toBeLessThan(5_000);
      expect(first.lastRun).toMatchObject({ claimed: 10, applied: 10, batches: 3 });

      // The next one only once the interval has passed since the first one's start.
      await harness.env.sleep('29 minutes');
      expect((await status()).totals.runs).toBe(1);
      await harness.env.sleep('61 seconds');
      const second = await afterRuns(2);
      expect(Date.parse(second.lastRun?.startedAt ?? '') - startedAt).toBeGreaterThanOrEqual(30 * minute);
      await harness.env.sleep('30 minutes');
      const third = await afterRuns(3);
      expect(Date.parse(third.lastRun?.startedAt ?? '') - startedAt).toBeGreaterThanOrEqual(60 * minute);

      expect(t.claimLimits).toEqual([10, 10, 10]);
      expect(t.applyCalls.map((call) => call.contactNumbers.length)).toEqual([4, 4, 2, 4, 4, 2, 4, 1]);
      expect(t.applyCalls.flatMap((call) => call.contactNumbers)).toEqual(contacts(1, 25));
      expect(third.lastRun).toMatchObject({ claimed: 5, applied: 5, batches: 2 });
      expect(third.totals).toMatchObject({ runs: 3, claimed: 25, applied: 25 });

      // Every batch of a run names the run's claim.
      const claimIds = [...t.claims.keys()];
      expect(claimIds).toHaveLength(3);
      expect(claimIds[0]).toBe(`${inboundSyncWorkflowId(target)}/${handle.firstExecutionRunId}`);
      expect(t.applyCalls.map((call) => call.claimId)).toEqual(
        [0, 0, 0, 1, 1, 1, 2, 2].map((run) => claimIds[run]),
      );
      expect(t.applyCalls.every((call) => call.target === target)).toBe(true);

      // Never two batches in flight: each call ends before the next one starts.
      expect(t.maxInFlight).toBe(1);
      expect(t.applyEvents).toEqual(t.applyCalls.flatMap((_, i) => [`start ${i}`, `end ${i}`]));
    }));

  it('uses the defaults: every 15 minutes, 100 changes per run, 50 per batch', () =>
    withWorker(async () => {
      const t = new FakeTarget(150);
      const { afterRuns } = await start(t);
      const first = await afterRuns(1);
      expect(first.settings).toEqual({ intervalMinutes: 15, maxContactsPerRun: 100, batchSize: 50 });
      expect(t.claimLimits).toEqual([100]);
      expect(t.applyCalls.map((call) => call.contactNumbers.length)).toEqual([50, 50]);
      expect(Date.parse(first.nextRunAt ?? '') - Date.parse(first.lastRun?.startedAt ?? '')).toBe(
        15 * minute,
      );
    }));

  it("reports the last run's counts and totals summed across continue-as-new", () =>
    withWorker(async () => {
      const t = new FakeTarget(8);
      t.outcomes.set(contact(2), 'deleted');
      t.outcomes.set(contact(3), 'echo');
      t.outcomes.set(contact(4), 'echo');
      t.outcomes.set(contact(5), 'unchanged');
      t.outcomes.set(contact(6), 'parked');
      let open = (): void => undefined;
      t.claimGate = new Promise((resolve) => (open = resolve));
      const { target, handle, statusWhen, afterRuns } = await start(t, {
        batchSize: 3,
        intervalMinutes: 20,
      });

      const running = await statusWhen('a run in progress', (s) => s.state === 'running');
      expect(running).toMatchObject({
        target,
        lastRun: null,
        totals: { runs: 0, claimed: 0, applied: 0, deleted: 0, echoes: 0, parked: 0 },
      });
      open();

      const iso = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      const first = await afterRuns(1);
      expect(first).toMatchObject({
        target,
        state: 'waiting',
        settings: { intervalMinutes: 20, maxContactsPerRun: 100, batchSize: 3 },
        nextRunAt: iso,
        lastRun: {
          startedAt: iso,
          finishedAt: iso,
          polled: 0,
          claimed: 8,
          applied: 3,
          deleted: 1,
          echoes: 2,
          unchanged: 1,
          parked: 1,
          batches: 3,
        },
        totals: { runs: 1, claimed: 8, applied: 3, deleted: 1, echoes: 2, parked: 1 },
      });
      expect(Date.parse(first.nextRunAt ?? '')).toBe(
        Date.parse(first.lastRun?.startedAt ?? '') + 20 * minute,
      );

      // A second run in a new execution: the last run is its own, the totals add both.
      // This time the changes come from the CRM's change list, polled at the start of the run.
      t.changeList.push(...contacts(9, 12));
      t.outcomes.set(contact(9), 'deleted');
      t.outcomes.set(contact(10), 'echo');
      await harness.env.sleep('20 minutes');
      const second = await afterRuns(2);
      expect(second.lastRun).toMatchObject({
        polled: 4,
        claimed: 4,
        applied: 2,
        deleted: 1,
        echoes: 1,
        unchanged: 0,
        parked: 0,
        batches: 2,
      });
      expect(second.totals).toMatchObject({
        runs: 2,
        claimed: 12,
        applied: 5,
        deleted: 2,
        echoes: 3,
        parked: 1,
      });
      expect((await handle.describe()).runId).not.toBe(handle.firstExecutionRunId);

      // An empty run counts as a run and changes no other total.
      await harness.env.sleep('20 minutes');
      const third = await afterRuns(3);
      expect(third.lastRun).toMatchObject({ claimed: 0, applied: 0, batches: 0 });
      expect(third.totals).toEqual({ ...second.totals, runs: 3 });
      expect(t.applyCalls).toHaveLength(5);
      expect(t.polls).toBe(3);
    }));

  it('stops running while paused and resumes on resume', () =>
    withWorker(async () => {
      const t = new FakeTarget(30);
      const { handle, status, statusWhen, afterRuns } = await start(t, {
        maxContactsPerRun: 10,
        intervalMinutes: 1,
      });
      await afterRuns(1);
      await handle.signal(pauseSignal);
      const paused = await statusWhen('paused', (s) => s.state === 'paused');
      expect(paused.nextRunAt).toBeNull();
      await harness.env.sleep('10 minutes');
      expect((await status()).totals.runs).toBe(1);
      expect(t.claims.size).toBe(1);
      expect(t.pending).toHaveLength(20);

      // Overdue while paused: the run starts as soon as the sync is resumed.
      await handle.signal(resumeSignal);
      const resumed = await afterRuns(2);
      expect(resumed.state).toBe('waiting');
      expect(resumed.totals).toMatchObject({ runs: 2, claimed: 20, applied: 20 });
      expect(t.pending).toHaveLength(10);
    }));

  it('runs at once on trigger, whatever the interval, and holds a trigger while paused', () =>
    withWorker(async () => {
      const t = new FakeTarget(30);
      const { handle, status, afterRuns } = await start(t, { maxContactsPerRun: 10, intervalMinutes: 1440 });
      const first = await afterRuns(1);
      await handle.signal(triggerSignal);
      const second = await afterRuns(2);
      expect(second.totals.applied).toBe(20);
      const gap = Date.parse(second.lastRun?.startedAt ?? '') - Date.parse(first.lastRun?.startedAt ?? '');
      expect(gap).toBeLessThan(minute);
      // The interval counts again from the triggered run.
      expect(Date.parse(second.nextRunAt ?? '')).toBe(
        Date.parse(second.lastRun?.startedAt ?? '') + 1440 * minute,
      );

      // While paused, a trigger waits for resume.
      await handle.signal(pauseSignal);
      await handle.signal(triggerSignal);
      await harness.env.sleep('30 minutes');
      expect(await status()).toMatchObject({ state: 'paused', totals: { runs: 2 } });
      await handle.signal(resumeSignal);
      expect((await afterRuns(3)).totals.applied).toBe(30);
    }));

  it('rejects out-of-range settings changes and applies valid ones to later runs', () =>
    withWorker(async () => {
      const t = new FakeTarget(30);
      const { handle, status, afterRuns } = await start(t, { maxContactsPerRun: 10, intervalMinutes: 1440 });
      await afterRuns(1);

      const error = await rejection(handle.executeUpdate(configureUpdate, { args: [{ batchSize: 51 }] }));
      expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
      expect((error as WorkflowUpdateFailedError).cause?.message).toBe(
        'batchSize must be an integer from 1 to 50 (got 51)',
      );
      expect((await status()).settings).toEqual({
        intervalMinutes: 1440,
        maxContactsPerRun: 10,
        batchSize: 50,
      });

      const applied = await handle.executeUpdate(configureUpdate, {
        args: [{ batchSize: 3, maxContactsPerRun: 8, intervalMinutes: 5 }],
      });
      expect(applied).toEqual({ intervalMinutes: 5, maxContactsPerRun: 8, batchSize: 3 });
      await harness.env.sleep('5 minutes');
      const second = await afterRuns(2);
      expect(second.settings).toEqual(applied);
      expect(t.claimLimits).toEqual([10, 8]);
      expect(t.applyCalls.slice(1).map((call) => call.contactNumbers.length)).toEqual([3, 3, 2]);
    }));

  it('parks a batch that fails for good with APPLY_FAILED and its reason, and applies the other batches', () =>
    withWorker(async () => {
      const t = new FakeTarget(14);
      t.applyFails.add(contact(5));
      t.applyFails.add(contact(12));
      const { handle, afterRuns } = await start(t, { batchSize: 4, intervalMinutes: 1440 });
      const first = await afterRuns(1);

      // Batches: 1-4, 5-8 (fails), 9-12 (fails), 13-14.
      expect(t.applyCalls.map((call) => call.contactNumbers)).toEqual([
        contacts(1, 4),
        contacts(5, 8),
        contacts(9, 12),
        contacts(13, 14),
      ]);
      // Not retried: the failure is non-retryable.
      expect(t.written).toEqual([...contacts(1, 4), ...contacts(13, 14)]);
      const claimId = [...t.claims.keys()][0];
      expect(t.parkCalls).toEqual([
        {
          target: expect.any(String),
          claimId,
          contactNumbers: contacts(5, 8),
          code: 'APPLY_FAILED',
          reason: 'S-360 answered 400',
        },
        {
          target: expect.any(String),
          claimId,
          contactNumbers: contacts(9, 12),
          code: 'APPLY_FAILED',
          reason: 'S-360 answered 400',
        },
      ]);
      expect(first.state).toBe('waiting');
      expect(first.lastRun).toMatchObject({ claimed: 14, applied: 6, parked: 8, batches: 4 });
      expect(first.totals).toMatchObject({ runs: 1, claimed: 14, applied: 6, parked: 8 });

      // The sync carries on.
      t.pending.push(contact(20));
      await handle.signal(triggerSignal);
      expect((await afterRuns(2)).totals).toMatchObject({ runs: 2, applied: 7, parked: 8 });
    }));

  it('keeps running when the store cannot park, leaving the contacts queued', () =>
    withWorker(async () => {
      const t = new FakeTarget(8);
      t.applyFails.add(contact(1));
      t.parkFails = true;
      const { handle, afterRuns } = await start(t, { batchSize: 4, intervalMinutes: 1440 });
      const first = await afterRuns(1);
      // The failed batch could not be parked: not counted, the other batch applied, the workflow still running.
      expect(t.parkCalls).toHaveLength(1);
      expect(t.written).toEqual(contacts(5, 8));
      expect(first.lastRun).toMatchObject({ claimed: 8, applied: 4, parked: 0 });
      expect((await handle.describe()).status.name).toBe('RUNNING');
    }));

  it('fails at start on invalid settings, naming them', () =>
    withWorker(async () => {
      targets.set('invalid', new FakeTarget());
      const handle = await harness.env.client.workflow.start(inboundSync, {
        workflowId: inboundSyncWorkflowId('invalid'),
        taskQueue: harness.taskQueue,
        args: [{ target: 'invalid', settings: { intervalMinutes: 0, batchSize: 60 } }],
      });
      harness.stopAfterTest(handle);
      const error = await rejection(handle.result());
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect((error as WorkflowFailedError).cause?.message).toBe(
        'Invalid inbound sync settings: intervalMinutes must be an integer from 1 to 1440 (got 0); ' +
          'batchSize must be an integer from 1 to 50 (got 60)',
      );
      expect(fake('invalid').claimLimits).toEqual([]);
    }));
});
