import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import type { OutboundActivities } from '../../src/activities/outbound-activity-types';
import {
  configureUpdate,
  outboundSync,
  outboundSyncWorkflowId,
  pauseSignal,
  resumeSignal,
  statusQuery,
  triggerSignal,
  type OutboundSyncInput,
  type OutboundSyncStatus,
} from '../../src/workflows';
import { eventually } from '../helpers/free-port';
import { createTimeSkippingEnv } from '../helpers/temporal-env';

jest.setTimeout(120_000);

/** An in-memory outbox and CRM for one target, recording every activity call. */
class FakeTarget {
  pending: string[] = [];
  claims = new Map<string, string[]>();
  claimLimits: number[] = [];
  staged = new Map<string, string[]>();
  pushes: Array<{ pushId: string; contacts: string[] }> = [];
  delivered: string[] = [];
  parked: Array<{ contactNumber: string; code: string; reason: string }> = [];
  /** Contacts that prepare parks (S-360 does not know them). */
  unknownInS360 = new Set<string>();
  /** A push holding one of these is refused by the CRM as a whole (a permanent failure). */
  refusedByCrm = new Set<string>();

  constructor(count = 0) {
    this.pending = Array.from({ length: count }, (_, i) => String(i + 1).padStart(10, '0'));
  }
}

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
    if (!t.claims.has(claimId)) t.claims.set(claimId, t.pending.splice(0, limit));
    return { contactNumbers: t.claims.get(claimId) ?? [] };
  },
  async prepareOutboundPush({ target, pushId, contactNumbers }) {
    const t = fake(target);
    const unknown = contactNumbers.filter((n) => t.unknownInS360.has(n));
    for (const contactNumber of unknown)
      t.parked.push({ contactNumber, code: 'NOT_FOUND', reason: 'unknown' });
    const staged = contactNumbers.filter((n) => !t.unknownInS360.has(n));
    t.staged.set(pushId, staged);
    return { prepared: staged.length, parked: unknown.length, stagedContactNumbers: staged };
  },
  async deliverOutboundPush({ target, pushId }) {
    const t = fake(target);
    const staged = t.staged.get(pushId) ?? [];
    if (staged.some((n) => t.refusedByCrm.has(n))) {
      throw ApplicationFailure.create({ type: 'Permanent', nonRetryable: true, message: 'CRM answered 400' });
    }
    t.pushes.push({ pushId, contacts: staged });
    t.delivered.push(...staged);
    return { delivered: staged.length, rejected: 0, duplicate: false };
  },
  async parkOutboundContacts({ target, contactNumbers, code, reason }) {
    const t = fake(target);
    for (const contactNumber of contactNumbers) t.parked.push({ contactNumber, code, reason });
    return { parked: contactNumbers.length };
  },
};

describe('outboundSync workflow (time skipping)', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  const taskQueue = 'outbound-sync-test';
  let targetCount = 0;

  beforeAll(async () => {
    const [testEnv, bundle] = await Promise.all([
      createTimeSkippingEnv(),
      bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows') }),
    ]);
    env = testEnv;
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities,
    });
    running = worker.run();
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  /** Starts a workflow for a new fake target. */
  async function start(fakeTarget: FakeTarget, settings: OutboundSyncInput['settings'] = {}) {
    targetCount += 1;
    const target = `t${targetCount}`;
    targets.set(target, fakeTarget);
    const handle = await env.client.workflow.start(outboundSync, {
      workflowId: outboundSyncWorkflowId(target),
      taskQueue,
      args: [{ target, settings }],
    });
    const statusWhen = (what: string, done: (s: OutboundSyncStatus) => boolean) =>
      eventually(what, async () => {
        const status = await handle.query(statusQuery);
        return done(status) ? status : undefined;
      });
    const afterRuns = (runs: number) =>
      statusWhen(`${runs} runs`, (s) => s.totals.runs >= runs && s.state !== 'running');
    return { target, handle, statusWhen, afterRuns };
  }

  it('drains 1,200 contacts in runs of at most 500 and pushes of at most 50, one run per interval', async () => {
    const t = new FakeTarget(1200);
    const { handle, afterRuns } = await start(t, {
      maxContactsPerRun: 500,
      batchSize: 50,
      intervalMinutes: 15,
    });

    const first = await afterRuns(1);
    expect(first.lastRun).toMatchObject({ claimed: 500, delivered: 500, batches: 10 });

    await env.sleep('14 minutes');
    expect((await handle.query(statusQuery)).totals.runs).toBe(1);
    await env.sleep('61 seconds');
    await afterRuns(2);
    await env.sleep('15 minutes');
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
    expect(new Set(t.delivered).size).toBe(1200);
    expect(t.delivered).toHaveLength(1200);

    // Each run is its own execution (continue-as-new), and the settings came along.
    const description = await handle.describe();
    expect(description.runId).not.toBe(handle.firstExecutionRunId);
    expect(third.settings).toEqual({ intervalMinutes: 15, maxContactsPerRun: 500, batchSize: 50 });
    await handle.terminate('test over');
  });

  it('uses the defaults: every 15 minutes, 100 contacts per run, 50 per push', async () => {
    const t = new FakeTarget(150);
    const { handle, afterRuns } = await start(t);
    const first = await afterRuns(1);
    expect(first.settings).toEqual({ intervalMinutes: 15, maxContactsPerRun: 100, batchSize: 50 });
    expect(first.lastRun?.claimed).toBe(100);
    expect(Date.parse(first.nextRunAt ?? '') - Date.parse(first.lastRun?.startedAt ?? '')).toBe(15 * 60_000);
    await handle.terminate('test over');
  });

  it('stops running while paused and resumes on resume', async () => {
    const t = new FakeTarget(30);
    const { handle, afterRuns, statusWhen } = await start(t, { maxContactsPerRun: 10, intervalMinutes: 1 });
    await afterRuns(1);
    await handle.signal(pauseSignal);
    const paused = await statusWhen('paused', (s) => s.state === 'paused');
    expect(paused.nextRunAt).toBeNull();
    await env.sleep('10 minutes');
    expect((await handle.query(statusQuery)).totals.runs).toBe(1);
    expect(t.pending).toHaveLength(20);

    await handle.signal(resumeSignal);
    const resumed = await afterRuns(2);
    expect(resumed.state).toBe('waiting');
    expect(t.pending).toHaveLength(10);
    await handle.terminate('test over');
  });

  it('runs at once on trigger, whatever the interval', async () => {
    const t = new FakeTarget(20);
    const { handle, afterRuns } = await start(t, { maxContactsPerRun: 10, intervalMinutes: 1440 });
    await afterRuns(1);
    await handle.signal(triggerSignal);
    const second = await afterRuns(2);
    expect(second.totals.delivered).toBe(20);
    await handle.terminate('test over');
  });

  it('rejects out-of-range settings with a clear message and applies valid ones to later runs', async () => {
    const t = new FakeTarget(40);
    const { handle, afterRuns } = await start(t, { maxContactsPerRun: 20, intervalMinutes: 1440 });
    await afterRuns(1);

    const rejected = async (changes: Record<string, number>): Promise<string> => {
      const error = await handle.executeUpdate(configureUpdate, { args: [changes] }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
      return String((error as WorkflowUpdateFailedError).cause?.message);
    };
    expect(await rejected({ intervalMinutes: 0 })).toBe(
      'intervalMinutes must be an integer from 1 to 1440 (got 0)',
    );
    expect(await rejected({ intervalMinutes: 1441 })).toMatch(/intervalMinutes .* 1 to 1440 \(got 1441\)/);
    expect(await rejected({ maxContactsPerRun: 501 })).toMatch(/maxContactsPerRun .* 1 to 500 \(got 501\)/);
    expect(await rejected({ batchSize: 51 })).toMatch(/batchSize .* 1 to 50 \(got 51\)/);

    const applied = await handle.executeUpdate(configureUpdate, {
      args: [{ batchSize: 5, intervalMinutes: 30 }],
    });
    expect(applied).toEqual({ intervalMinutes: 30, maxContactsPerRun: 20, batchSize: 5 });
    await env.sleep('30 minutes');
    const second = await afterRuns(2);
    expect(second.settings).toEqual(applied);
    const secondRunPushes = t.pushes.slice(1);
    expect(secondRunPushes.map((push) => push.contacts.length)).toEqual([5, 5, 5, 5]);
    await handle.terminate('test over');
  });

  it('fails at start on invalid settings, naming them', async () => {
    targets.set('invalid', new FakeTarget());
    const handle = await env.client.workflow.start(outboundSync, {
      workflowId: outboundSyncWorkflowId('invalid'),
      taskQueue,
      args: [{ target: 'invalid', settings: { batchSize: 0, maxContactsPerRun: 1000 } }],
    });
    const error = await handle.result().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause?.message).toBe(
      'Invalid outbound sync settings: batchSize must be an integer from 1 to 50 (got 0); ' +
        'maxContactsPerRun must be an integer from 1 to 500 (got 1000)',
    );
  });

  it('parks an unknown contact and a refused push without blocking the other contacts', async () => {
    const t = new FakeTarget(12);
    t.unknownInS360.add('0000000002');
    t.refusedByCrm.add('0000000007');
    const { handle, afterRuns } = await start(t, { batchSize: 5 });
    const first = await afterRuns(1);

    // Batches: 1-5 (2 unknown), 6-10 (refused as a whole), 11-12.
    expect(t.delivered).toEqual([
      '0000000001',
      '0000000003',
      '0000000004',
      '0000000005',
      '0000000011',
      '0000000012',
    ]);
    expect(t.parked).toEqual(
      expect.arrayContaining([
        { contactNumber: '0000000002', code: 'NOT_FOUND', reason: 'unknown' },
        ...['0000000006', '0000000007', '0000000008', '0000000009', '0000000010'].map((contactNumber) => ({
          contactNumber,
          code: 'DELIVERY_FAILED',
          reason: 'CRM answered 400',
        })),
      ]),
    );
    expect(t.parked).toHaveLength(6);
    expect(first.lastRun).toMatchObject({ claimed: 12, delivered: 6, parked: 6 });
    await handle.terminate('test over');
  });
});
