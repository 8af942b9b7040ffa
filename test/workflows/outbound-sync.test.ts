import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { OutboundActivities } from '../../src/activities/outbound-activity-types';
import {
  configureUpdate,
  outboundSync,
  outboundSyncWorkflowId,
  pauseSignal,
  pauseUpdate,
  resumeSignal,
  resumeUpdate,
  statusQuery,
  triggerSignal,
  triggerUpdate,
  type OutboundSyncStatus,
} from '../../src/workflows';
import { rejection } from '../helpers/rejection';
import { syncWorkflowHarness } from '../helpers/sync-workflow-harness';

jest.setTimeout(90_000);

const minute = 60_000;

/** An in-memory outbox and CRM for one target, recording every activity call. */
class FakeTarget {
  pending: string[] = [];
  claims = new Map<string, string[]>();
  claimLimits: number[] = [];
  staged = new Map<string, string[]>();
  prepareCalls: string[] = [];
  pushes: Array<{ pushId: string; contacts: string[] }> = [];
  delivered: string[] = [];
  parked: Array<{ contactNumber: string; code: string; reason: string }> = [];
  /** Prepare and deliver calls running at the same moment, and the most seen. */
  inFlight = 0;
  maxInFlight = 0;
  /** Contacts that prepare parks itself (S-360 does not know them). */
  unknownInS360 = new Set<string>();
  /** A batch holding one of these fails to prepare: for good, or every time with a retryable failure. */
  prepareFails = new Map<string, 'permanent' | 'transient'>();
  /** A push holding one of these is refused by the CRM as a whole (a permanent failure). */
  refusedByCrm = new Set<string>();
  /** While set, the CRM refuses crm-sync's credentials (a Configuration failure on every delivery). */
  credentialsRefused = false;
  /** Records the CRM refuses one by one (a validation error on the record); the rest of the push is applied. */
  rejectedByCrm = new Set<string>();
  /** The store refuses to park (a non-retryable failure). */
  parkFails = false;
  /** Relays and their structure: prepare holds a relay back until its structure has been delivered. */
  relayAccount = new Map<string, string>();
  released: string[] = [];
  /** While set, claims wait for it: a run that is in progress. */
  claimGate: Promise<void> | undefined;

  constructor(count = 0) {
    this.pending = Array.from({ length: count }, (_, i) => contact(i + 1));
  }

  async busy<T>(work: () => T): Promise<T> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return work();
    } finally {
      this.inFlight -= 1;
    }
  }
}

/** Contact numbers as S-360 writes them: digits with leading zeros. */
const contact = (n: number): string => String(n).padStart(10, '0');

const targets = new Map<string, FakeTarget>();
const fake = (target: string): FakeTarget => {
  const found = targets.get(target);
  if (!found) throw new Error(`no fake target ${target}`);
  return found;
};

const activities: OutboundActivities = {
  async claimOutboundContacts({ target, claimId, limit }) {
    const t = fake(target);
    t.claimLimits.push(limit);
    await t.claimGate;
    if (!t.claims.has(claimId)) t.claims.set(claimId, t.pending.splice(0, limit));
    return { contactNumbers: t.claims.get(claimId) ?? [] };
  },
  async prepareOutboundPush({ target, pushId, contactNumbers }) {
    const t = fake(target);
    return t.busy(() => {
      t.prepareCalls.push(pushId);
      const failure = contactNumbers.map((n) => t.prepareFails.get(n)).find(Boolean);
      if (failure === 'permanent') {
        throw ApplicationFailure.create({
          type: 'Permanent',
          nonRetryable: true,
          message: 'S-360 answered 400',
        });
      }
      if (failure === 'transient') {
        throw ApplicationFailure.create({ type: 'Transient', message: 'S-360 answered 503' });
      }
      const unknown = contactNumbers.filter((n) => t.unknownInS360.has(n));
      for (const contactNumber of unknown)
        t.parked.push({ contactNumber, code: 'NOT_FOUND', reason: 'unknown' });
      const known = contactNumbers.filter((n) => !t.unknownInS360.has(n));
      const waiting = (n: string): boolean => {
        const account = t.relayAccount.get(n);
        return account !== undefined && !t.delivered.includes(account);
      };
      const staged = known.filter((n) => !waiting(n));
      const heldRelays = known
        .filter(waiting)
        .map((n) => ({ contactNumber: n, accountContactNumber: t.relayAccount.get(n) ?? '' }));
      t.staged.set(pushId, staged);
      return {
        prepared: staged.length,
        parked: unknown.length,
        stagedContactNumbers: staged,
        heldRelays,
        echoes: 0,
      };
    });
  },
  async deliverOutboundPush({ target, pushId }) {
    const t = fake(target);
    return t.busy(() => {
      const staged = t.staged.get(pushId) ?? [];
      if (t.credentialsRefused) {
        throw ApplicationFailure.create({
          type: 'Configuration',
          nonRetryable: true,
          message: "CRM refused crm-sync's credentials: 401 (check the configuration)",
        });
      }
      if (staged.some((n) => t.refusedByCrm.has(n))) {
        throw ApplicationFailure.create({
          type: 'Permanent',
          nonRetryable: true,
          message: 'CRM answered 400',
        });
      }
      const accepted = staged.filter((n) => !t.rejectedByCrm.has(n));
      for (const contactNumber of staged.filter((n) => t.rejectedByCrm.has(n))) {
        t.parked.push({ contactNumber, code: 'CRM_REJECTED', reason: 'bad e-mail' });
      }
      t.pushes.push({ pushId, contacts: staged });
      t.delivered.push(...accepted);
      return { delivered: accepted.length, rejected: staged.length - accepted.length, duplicate: false };
    });
  },
  async releaseHeldRelays({ target, relays }) {
    const t = fake(target);
    for (const { contactNumber, accountContactNumber } of relays) {
      t.released.push(contactNumber);
      t.pending.unshift(contactNumber);
      if (!t.pending.includes(accountContactNumber)) t.pending.push(accountContactNumber);
    }
    return { released: relays.length, parked: 0 };
  },
  async parkOutboundContacts({ target, contactNumbers, code, reason }) {
    const t = fake(target);
    if (t.parkFails) {
      throw ApplicationFailure.create({
        type: 'Configuration',
        nonRetryable: true,
        message: 'store refused',
      });
    }
    for (const contactNumber of contactNumbers) t.parked.push({ contactNumber, code, reason });
    return { parked: contactNumbers.length };
  },
};

describe('outboundSync workflow (time skipping)', () => {
  const harness = syncWorkflowHarness<OutboundSyncStatus, FakeTarget>({
    taskQueue: 'outbound-sync-test',
    activities,
    workflow: outboundSync,
    workflowId: outboundSyncWorkflowId,
    statusQuery: statusQuery,
    targets,
  });
  const { withWorker, start } = harness;

  it('drains 1,200 contacts in runs of at most 500 and pushes of at most 50, one run per interval', () =>
    withWorker(async () => {
      const t = new FakeTarget(1200);
      const { handle, status, afterRuns } = await start(t, {
        maxContactsPerRun: 500,
        batchSize: 50,
        intervalMinutes: 15,
      });

      // The first run happens at start.
      const first = await afterRuns(1);
      const startedAt = Date.parse(first.lastRun?.startedAt ?? '');
      expect(Math.abs(startedAt - (await handle.describe()).startTime.getTime())).toBeLessThan(5_000);
      expect(first.lastRun).toMatchObject({ claimed: 500, delivered: 500, batches: 10 });

      // The next one only when the interval has passed since the first one's start.
      await harness.env.sleep('14 minutes');
      expect((await status()).totals.runs).toBe(1);
      await harness.env.sleep('61 seconds');
      const second = await afterRuns(2);
      expect(Date.parse(second.lastRun?.startedAt ?? '') - startedAt).toBeGreaterThanOrEqual(15 * minute);
      await harness.env.sleep('15 minutes');
      const third = await afterRuns(3);

      expect(t.claimLimits).toEqual([500, 500, 500]);
      expect(third.lastRun).toMatchObject({ claimed: 200, delivered: 200, batches: 4 });
      expect(third.totals).toEqual({
        runs: 3,
        claimed: 1200,
        delivered: 1200,
        rejected: 0,
        parked: 0,
        duplicates: 0,
      });
      expect(Math.max(...t.pushes.map((push) => push.contacts.length))).toBe(50);
      expect(t.pushes).toHaveLength(24);
      expect(new Set(t.pushes.map((push) => push.pushId)).size).toBe(24);
      expect(t.delivered).toHaveLength(1200);
      expect(new Set(t.delivered).size).toBe(1200);
      // Two batches at a time: busy, never a burst.
      expect(t.maxInFlight).toBe(2);

      // Each run is its own execution (continue-as-new), and the settings came along.
      expect((await handle.describe()).runId).not.toBe(handle.firstExecutionRunId);
      expect(third.settings).toEqual({ intervalMinutes: 15, maxContactsPerRun: 500, batchSize: 50 });
    }));

  it('uses the defaults: every 15 minutes, 100 contacts per run, 50 per push', () =>
    withWorker(async () => {
      const t = new FakeTarget(150);
      const { afterRuns } = await start(t);
      const first = await afterRuns(1);
      expect(first.settings).toEqual({ intervalMinutes: 15, maxContactsPerRun: 100, batchSize: 50 });
      expect(first.lastRun?.claimed).toBe(100);
      expect(t.pushes.map((push) => push.contacts.length)).toEqual([50, 50]);
      expect(Date.parse(first.nextRunAt ?? '') - Date.parse(first.lastRun?.startedAt ?? '')).toBe(
        15 * minute,
      );
    }));

  it('reports its state, settings, next run, last run and totals', () =>
    withWorker(async () => {
      const t = new FakeTarget(3);
      let open = (): void => undefined;
      t.claimGate = new Promise((resolve) => (open = resolve));
      const { target, statusWhen, afterRuns } = await start(t, { intervalMinutes: 20 });

      const running = await statusWhen('a run in progress', (s) => s.state === 'running');
      expect(running).toMatchObject({
        target,
        lastRun: null,
        totals: { runs: 0, claimed: 0, delivered: 0, rejected: 0, parked: 0, duplicates: 0 },
      });
      open();

      const iso = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      const after = await afterRuns(1);
      expect(after).toEqual({
        target,
        state: 'waiting',
        settings: { intervalMinutes: 20, maxContactsPerRun: 100, batchSize: 50 },
        nextRunAt: iso,
        pausedReason: null,
        lastRun: {
          startedAt: iso,
          finishedAt: iso,
          claimed: 3,
          prepared: 3,
          delivered: 3,
          rejected: 0,
          parked: 0,
          duplicates: 0,
          batches: 1,
        },
        totals: { runs: 1, claimed: 3, delivered: 3, rejected: 0, parked: 0, duplicates: 0 },
      });
      expect(Date.parse(after.nextRunAt ?? '')).toBe(
        Date.parse(after.lastRun?.startedAt ?? '') + 20 * minute,
      );
    }));

  it('stops running while paused and resumes on resume', () =>
    withWorker(async () => {
      const t = new FakeTarget(30);
      const { handle, status, afterRuns, statusWhen } = await start(t, {
        maxContactsPerRun: 10,
        intervalMinutes: 1,
      });
      await afterRuns(1);
      await handle.signal(pauseSignal);
      const paused = await statusWhen('paused', (s) => s.state === 'paused');
      expect(paused.nextRunAt).toBeNull();
      await harness.env.sleep('10 minutes');
      expect((await status()).totals.runs).toBe(1);
      expect(t.pending).toHaveLength(20);

      // Overdue while paused: the run starts as soon as the sync is resumed.
      await handle.signal(resumeSignal);
      const resumed = await afterRuns(2);
      expect(resumed.state).toBe('waiting');
      expect(t.pending).toHaveLength(10);

      // The acknowledged forms answer with the status they leave behind.
      expect(await handle.executeUpdate(pauseUpdate)).toMatchObject({ state: 'paused', nextRunAt: null });
      await harness.env.sleep('10 minutes');
      expect((await status()).totals.runs).toBe(2);
      const again = await handle.executeUpdate(resumeUpdate);
      expect(again.state).not.toBe('paused');
      expect((await afterRuns(3)).totals.claimed).toBe(30);
    }));

  it('runs at once on trigger, whatever the interval', () =>
    withWorker(async () => {
      const t = new FakeTarget(30);
      const { handle, afterRuns } = await start(t, { maxContactsPerRun: 10, intervalMinutes: 1440 });
      const first = await afterRuns(1);
      await handle.signal(triggerSignal);
      const second = await afterRuns(2);
      expect(second.totals.delivered).toBe(20);
      const gap = Date.parse(second.lastRun?.startedAt ?? '') - Date.parse(first.lastRun?.startedAt ?? '');
      expect(gap).toBeLessThan(minute);
      // The interval counts again from the triggered run.
      expect(Date.parse(second.nextRunAt ?? '')).toBe(
        Date.parse(second.lastRun?.startedAt ?? '') + 1440 * minute,
      );

      const acknowledged = await handle.executeUpdate(triggerUpdate);
      expect(acknowledged.state).not.toBe('paused');
      expect((await afterRuns(3)).totals.delivered).toBe(30);
    }));

  it('holds a trigger while paused and runs it on resume', () =>
    withWorker(async () => {
      const t = new FakeTarget(20);
      const { handle, status, afterRuns } = await start(t, { maxContactsPerRun: 10, intervalMinutes: 1440 });
      await afterRuns(1);
      await handle.executeUpdate(pauseUpdate);
      await handle.signal(triggerSignal);
      await harness.env.sleep('30 minutes');
      expect(await status()).toMatchObject({ state: 'paused', totals: { runs: 1 } });

      await handle.signal(resumeSignal);
      expect((await afterRuns(2)).totals.delivered).toBe(20);
    }));

  it('rejects out-of-range settings with a clear message and applies valid ones to later runs', () =>
    withWorker(async () => {
      const t = new FakeTarget(40);
      const { handle, status, afterRuns } = await start(t, { maxContactsPerRun: 20, intervalMinutes: 1440 });
      const first = await afterRuns(1);

      const rejected = async (changes: Record<string, unknown>): Promise<string> => {
        const error = await rejection(handle.executeUpdate(configureUpdate, { args: [changes] }));
        expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
        return String((error as WorkflowUpdateFailedError).cause?.message);
      };
      expect(await rejected({ intervalMinutes: 0 })).toBe(
        'intervalMinutes must be an integer from 1 to 1440 (got 0)',
      );
      expect(await rejected({ intervalMinutes: 1441 })).toBe(
        'intervalMinutes must be an integer from 1 to 1440 (got 1441)',
      );
      expect(await rejected({ maxContactsPerRun: 501 })).toBe(
        'maxContactsPerRun must be an integer from 1 to 500 (got 501)',
      );
      expect(await rejected({ batchSize: 51 })).toBe('batchSize must be an integer from 1 to 50 (got 51)');
      expect(await rejected({ batchSize: 2.5, intervalMinutes: '5' })).toBe(
        'batchSize must be an integer from 1 to 50 (got 2.5); intervalMinutes must be an integer from 1 to 1440 (got "5")',
      );
      // A rejected change leaves everything as it was.
      expect((await status()).settings).toEqual({
        intervalMinutes: 1440,
        maxContactsPerRun: 20,
        batchSize: 50,
      });

      const applied = await handle.executeUpdate(configureUpdate, {
        args: [{ batchSize: 5, intervalMinutes: 30 }],
      });
      expect(applied).toEqual({ intervalMinutes: 30, maxContactsPerRun: 20, batchSize: 5 });
      // The new interval counts from the last run's start.
      const reconfigured = await status();
      expect(Date.parse(reconfigured.nextRunAt ?? '')).toBe(
        Date.parse(first.lastRun?.startedAt ?? '') + 30 * minute,
      );

      await harness.env.sleep('30 minutes');
      const second = await afterRuns(2);
      expect(second.settings).toEqual(applied);
      expect(t.claimLimits).toEqual([20, 20]);
      expect(t.pushes.slice(1).map((push) => push.contacts.length)).toEqual([5, 5, 5, 5]);
    }));

  it('keeps settings and totals across continue-as-new', () =>
    withWorker(async () => {
      const t = new FakeTarget(25);
      t.rejectedByCrm.add(contact(3));
      const { handle, afterRuns } = await start(t, {
        maxContactsPerRun: 5,
        batchSize: 2,
        intervalMinutes: 1,
      });
      await afterRuns(1);
      await handle.executeUpdate(configureUpdate, { args: [{ maxContactsPerRun: 10 }] });
      for (let run = 2; run <= 4; run += 1) {
        await harness.env.sleep('1 minute');
        await afterRuns(run);
      }
      const after = await afterRuns(4);
      expect(after.settings).toEqual({ intervalMinutes: 1, maxContactsPerRun: 10, batchSize: 2 });
      expect(after.totals).toEqual({
        runs: 4,
        claimed: 25,
        delivered: 24,
        rejected: 1,
        parked: 0,
        duplicates: 0,
      });
      expect(t.claimLimits).toEqual([5, 10, 10, 10]);
      expect(after.lastRun).toMatchObject({ claimed: 0, batches: 0 });

      // Every run was its own short execution, ended by continue-as-new.
      expect((await handle.describe()).runId).not.toBe(handle.firstExecutionRunId);
      const firstExecution = harness.env.client.workflow.getHandle(
        handle.workflowId,
        handle.firstExecutionRunId,
      );
      const events = (await firstExecution.fetchHistory()).events ?? [];
      expect(events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
      expect(events.length).toBeLessThan(60);
    }));

  it('fails at start on invalid settings, naming them', () =>
    withWorker(async () => {
      targets.set('invalid', new FakeTarget());
      const handle = await harness.env.client.workflow.start(outboundSync, {
        workflowId: outboundSyncWorkflowId('invalid'),
        taskQueue: harness.taskQueue,
        args: [{ target: 'invalid', settings: { batchSize: 0, maxContactsPerRun: 1000 } }],
      });
      const error = await rejection(handle.result());
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect((error as WorkflowFailedError).cause?.message).toBe(
        'Invalid outbound sync settings: batchSize must be an integer from 1 to 50 (got 0); ' +
          'maxContactsPerRun must be an integer from 1 to 500 (got 1000)',
      );
    }));

  it('parks what fails and delivers the other contacts of the run', () =>
    withWorker(async () => {
      const t = new FakeTarget(17);
      t.unknownInS360.add(contact(2));
      t.rejectedByCrm.add(contact(4));
      t.refusedByCrm.add(contact(7));
      t.prepareFails.set(contact(13), 'permanent');
      const { afterRuns } = await start(t, { batchSize: 5 });
      const first = await afterRuns(1);

      // Batches: 1-5 (2 unknown in S-360, 4 refused by the CRM), 6-10 (push refused as a whole), 11-15 (prepare
      // fails for good), 16-17.
      expect(t.delivered.sort()).toEqual([1, 3, 5, 16, 17].map(contact));
      const parked = (from: number, to: number, code: string, reason: string) =>
        Array.from({ length: to - from + 1 }, (_, i) => ({ contactNumber: contact(from + i), code, reason }));
      expect(t.parked).toEqual(
        expect.arrayContaining([
          { contactNumber: contact(2), code: 'NOT_FOUND', reason: 'unknown' },
          { contactNumber: contact(4), code: 'CRM_REJECTED', reason: 'bad e-mail' },
          ...parked(6, 10, 'DELIVERY_FAILED', 'CRM answered 400'),
          ...parked(11, 15, 'PREPARE_FAILED', 'S-360 answered 400'),
        ]),
      );
      expect(t.parked).toHaveLength(12);
      expect(first.lastRun).toMatchObject({
        claimed: 17,
        prepared: 11,
        delivered: 5,
        rejected: 1,
        parked: 11,
        batches: 4,
      });
      expect(first.state).toBe('waiting');
    }));

  it('pushes a relay only after its structure: later in the same run, or in a later run', () =>
    withWorker(async () => {
      const t = new FakeTarget(6);
      // 2 is a relay of 5, delivered in a later batch of the same run; 3 is a relay of 9, not queued at all.
      t.relayAccount.set(contact(2), contact(5));
      t.relayAccount.set(contact(3), contact(9));
      const { handle, afterRuns } = await start(t, { batchSize: 2, intervalMinutes: 1440 });
      const first = await afterRuns(1);

      // Two batches run at once, so the first three pushes may come in any order; the held relay comes last.
      const pushed = t.pushes.map((push) => push.contacts);
      expect(pushed).toHaveLength(4);
      expect(pushed.slice(0, 3)).toEqual(
        expect.arrayContaining([[contact(1)], [contact(4)], [contact(5), contact(6)]]),
      );
      expect(pushed[3]).toEqual([contact(2)]);
      expect(t.released).toEqual([contact(3)]);
      expect(first.lastRun).toMatchObject({ claimed: 6, delivered: 5, heldRelays: 1, parked: 0 });

      // The next run takes the relay again and its structure, queued by the release: structure first.
      await handle.signal(triggerSignal);
      await afterRuns(2);
      expect(t.delivered.indexOf(contact(9))).toBeGreaterThan(-1);
      expect(t.delivered.indexOf(contact(3))).toBeGreaterThan(t.delivered.indexOf(contact(9)));
      expect(t.delivered).toHaveLength(7);
    }));

  it('parks a batch whose preparation still fails after 20 attempts', () =>
    withWorker(async () => {
      const t = new FakeTarget(4);
      t.prepareFails.set(contact(1), 'transient');
      const { afterRuns } = await start(t, { batchSize: 2, intervalMinutes: 1440 });
      // The backoff (1 s doubling up to 5 min) adds up to about an hour.
      await harness.env.sleep('2 hours');
      const first = await afterRuns(1);
      expect(t.prepareCalls.filter((pushId) => pushId.endsWith('/0'))).toHaveLength(20);
      expect(t.parked).toEqual(
        [1, 2].map((n) => ({
          contactNumber: contact(n),
          code: 'PREPARE_FAILED',
          reason: 'S-360 answered 503',
        })),
      );
      expect(t.delivered).toEqual([3, 4].map(contact));
      expect(first.lastRun).toMatchObject({ claimed: 4, delivered: 2, parked: 2 });
    }));

  it('pauses itself, parking nothing, when the CRM refuses its credentials, and goes on after resume', () =>
    withWorker(async () => {
      const t = new FakeTarget(6);
      t.credentialsRefused = true;
      const { handle, afterRuns } = await start(t, { batchSize: 2, intervalMinutes: 1440 });
      const first = await afterRuns(1);
      expect(first.state).toBe('paused');
      expect(first.pausedReason).toBe("CRM refused crm-sync's credentials: 401 (check the configuration)");
      expect(t.parked).toEqual([]);
      // The run stopped at the first refusal instead of trying every batch.
      expect(t.prepareCalls.length).toBeLessThanOrEqual(2);

      t.credentialsRefused = false;
      t.pending.unshift(...t.claims.get([...t.claims.keys()][0] ?? '')!);
      await handle.executeUpdate(resumeUpdate);
      await handle.signal(triggerSignal);
      const resumed = await afterRuns(2);
      expect(resumed.totals.delivered).toBe(6);
      expect(resumed.pausedReason).toBeNull();
      expect(t.parked).toEqual([]);
    }));

  it('keeps running when the store cannot park, leaving the contacts queued', () =>
    withWorker(async () => {
      const t = new FakeTarget(4);
      t.refusedByCrm.add(contact(1));
      t.parkFails = true;
      const { handle, afterRuns } = await start(t, { batchSize: 2, intervalMinutes: 1440 });
      const first = await afterRuns(1);
      expect(first).toMatchObject({ state: 'waiting', lastRun: { claimed: 4, delivered: 2, parked: 0 } });
      expect(t.parked).toEqual([]);

      t.parkFails = false;
      t.pending.push(contact(9));
      await handle.signal(triggerSignal);
      expect((await afterRuns(2)).totals.delivered).toBe(3);
    }));
});
