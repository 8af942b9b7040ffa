/**
 * The mass update workflow on Temporal's time-skipping test server, with fake activities: a "file" is a number of
 * rows, some of them bad. Minutes of pacing run in moments; times are the server's (workflow) times.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import type {
  ApplyMassUpdateChunkInput,
  ApplyMassUpdateChunkResult,
  MassUpdateActivities,
} from '../../src/activities/mass-update-activity-types';
import {
  massUpdate,
  massUpdatePauseUpdate,
  massUpdateResumeUpdate,
  massUpdateStatusQuery,
  massUpdateWorkflowId,
  raiseRateSignal,
  raiseRateUpdate,
  type MassUpdateInput,
  type MassUpdateStatus,
} from '../../src/workflows';
import { eventually } from '../helpers/free-port';
import { rejection } from '../helpers/rejection';
import { createTimeSkippingEnv } from '../helpers/temporal-env';

jest.setTimeout(120_000);

const taskQueue = 'mass-update-test';
const minute = 60_000;

/**
 * A fake source: `rows` data rows on lines 2.. of an update file (or 1.. of a CRM query's records), some unreadable,
 * some refused by S-360.
 */
interface FakeFile {
  rows: number;
  /** The line of the first row: 2 in a file (after its header), 1 among a query's records. */
  firstLine?: number;
  /** Lines that cannot be read (parked without a call). */
  unreadable?: Set<number>;
  /** Lines S-360 refuses (parked after a call). */
  refused?: Set<number>;
  /** Fails the chunk starting at this line once, for good (non-retryable). */
  failOnceAt?: number;
  /** Holds the chunk of this index (0-based) until released. */
  gate?: { index: number; started: boolean; release: () => void; released: Promise<void> };
  chunks: Array<ApplyMassUpdateChunkInput & { atMs: number }>;
}

const files = new Map<string, FakeFile>();
let fileCount = 0;

function fakeFile(rows: number, more: Partial<FakeFile> = {}): { name: string; file: FakeFile } {
  fileCount += 1;
  const name = `/data/updates-${fileCount}.csv`;
  const file: FakeFile = { rows, chunks: [], ...more };
  files.set(name, file);
  return { name, file };
}

function gateAt(file: FakeFile, index: number): void {
  let release = () => undefined as void;
  const released = new Promise<void>((resolve) => (release = resolve));
  file.gate = { index, started: false, release, released };
}

const activities: MassUpdateActivities = {
  async checkMassUpdateSource({ file, crmQuery }) {
    return { totalRows: files.get(file ?? crmQuery?.query ?? '')?.rows ?? 0 };
  },
  async applyMassUpdateChunk(input): Promise<ApplyMassUpdateChunkResult> {
    const file = files.get(input.file ?? input.crmQuery?.query ?? '');
    if (!file) throw new Error(`no fake file ${input.file}`);
    const end = file.rows + (file.firstLine ?? 2) - 1;
    const index =
      file.chunks.push({ ...input, atMs: Context.current().info.currentAttemptScheduledTimestampMs }) - 1;
    if (file.gate?.index === index) {
      file.gate.started = true;
      await file.gate.released;
    }
    if (file.failOnceAt === input.fromLine) {
      file.failOnceAt = undefined;
      throw ApplicationFailure.create({
        type: 'Permanent',
        nonRetryable: true,
        message: 'S-360 answered 400',
      });
    }
    const last = Math.min(input.fromLine + input.maxRows - 1, end);
    const result = { rows: 0, applied: 0, parked: 0, calls: 0 };
    for (let line = input.fromLine; line <= last; line++) {
      result.rows += 1;
      if (file.unreadable?.has(line)) {
        result.parked += 1;
        continue;
      }
      result.calls += 1;
      if (file.refused?.has(line)) result.parked += 1;
      else result.applied += 1;
    }
    return { ...result, nextLine: last < end ? last + 1 : null };
  },
};

describe('massUpdate workflow', () => {
  let env: TestWorkflowEnvironment;
  let code: string;
  let worker: Worker;
  let running: Promise<void>;
  const started: WorkflowHandle[] = [];
  let updates = 0;

  beforeAll(async () => {
    const [testEnv, bundle] = await Promise.all([
      createTimeSkippingEnv(),
      bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows') }),
    ]);
    env = testEnv;
    code = bundle.code;
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: { code },
      activities,
    });
    running = worker.run();
  });

  afterEach(async () => {
    for (const file of files.values()) file.gate?.release();
    await Promise.all(
      started.splice(0).map((handle) => handle.terminate('test over').catch(() => undefined)),
    );
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  async function start(input: Omit<MassUpdateInput, 'updateId'>) {
    updates += 1;
    const updateId = `u${updates}`;
    const handle = await env.client.workflow.start(massUpdate, {
      workflowId: massUpdateWorkflowId(updateId),
      taskQueue,
      args: [{ updateId, ...input }],
    });
    started.push(handle);
    return handle;
  }

  /**
   * Rows applied per workflow minute since the first chunk, by the time each chunk started; minutes start half a
   * chunk (2.5 s) before the first chunk, so that the milliseconds the server takes to schedule an activity do not
   * move a chunk into the neighbouring minute.
   */
  function rowsPerMinute(file: FakeFile): number[] {
    const first = (file.chunks[0]?.atMs ?? 0) - 2_500;
    const perMinute: number[] = [];
    for (const chunk of file.chunks) {
      const index = Math.floor((chunk.atMs - first) / minute);
      const rows = Math.min(chunk.maxRows, file.rows + 2 - chunk.fromLine);
      perMinute[index] = (perMinute[index] ?? 0) + rows;
    }
    return perMinute;
  }

  it('paces the rows: each workflow minute applies as many rows as the rate', async () => {
    const { name, file } = fakeFile(650);
    const handle = await start({ file: name, perMinute: 180 });
    const result = await handle.result();

    expect(result).toMatchObject({
      state: 'completed',
      totalRows: 650,
      rowsDone: 650,
      applied: 650,
      parked: 0,
      calls: 650,
      percentDone: 100,
      nextLine: null,
      basePerMinute: 180,
      perMinute: 180,
      eta: null,
    });
    // Chunks of 5 s of work at 180 calls per minute: 15 rows.
    expect(file.chunks.every((chunk) => chunk.maxRows === 15 && chunk.perMinute === 180)).toBe(true);
    const perMinute = rowsPerMinute(file);
    expect(perMinute.slice(0, 3)).toEqual([180, 180, 180]);
    expect(perMinute.reduce((sum, rows) => sum + rows, 0)).toBe(650);
    expect(result.achievedPerMinute).toBeGreaterThanOrEqual(175);
    expect(result.achievedPerMinute).toBeLessThanOrEqual(181);
  });

  it('applies a raised rate from the next chunk, and returns to the base rate by itself at the deadline', async () => {
    const { name, file } = fakeFile(2_000);
    gateAt(file, 2);
    const handle = await start({ file: name, perMinute: 180 });
    const result = handle.result();
    await eventually('the third chunk', async () => (file.gate?.started ? true : undefined));

    const raised = await handle.executeUpdate(raiseRateUpdate, { args: [{ perMinute: 600, forMs: minute }] });
    expect(raised).toMatchObject({ perMinute: 600, basePerMinute: 180, raisedPerMinute: 600 });
    const until = Date.parse(raised.raisedUntil ?? '');
    file.gate?.release();
    const final = await result;

    const rates = file.chunks.map((chunk) => chunk.perMinute);
    expect(rates.slice(0, 3)).toEqual([180, 180, 180]);
    // From the next chunk on: 600 per minute, chunks of 50 rows, allowed by the S-360 budget until the deadline.
    const raisedChunks = file.chunks.filter((chunk) => chunk.perMinute === 600);
    expect(file.chunks[3]).toMatchObject({ perMinute: 600, maxRows: 50, raisedUntilMs: until });
    // Without waiting out the 5 s share of the chunk in progress: its 15 calls take 1.5 s at 600 per minute.
    expect((file.chunks[3]?.atMs ?? 0) - (file.chunks[2]?.atMs ?? 0)).toBeLessThan(3_000);
    expect(raisedChunks.every((chunk) => chunk.maxRows === 50 && chunk.raisedUntilMs === until)).toBe(true);
    // A minute at 600 per minute is 12 chunks of 5 s; then every chunk is back at 180, without any signal.
    expect(raisedChunks.length).toBeGreaterThanOrEqual(12);
    expect(raisedChunks.length).toBeLessThanOrEqual(13);
    const after = file.chunks.slice(3 + raisedChunks.length);
    expect(after.length).toBeGreaterThan(0);
    expect(
      after.every((chunk) => chunk.perMinute === 180 && chunk.maxRows === 15 && chunk.raisedUntilMs === null),
    ).toBe(true);
    expect(after[0]?.atMs).toBeGreaterThanOrEqual(until - 1_000);
    expect(final).toMatchObject({
      state: 'completed',
      applied: 2_000,
      raisedPerMinute: null,
      raisedUntil: null,
    });
  });

  it('refuses an invalid raise before changing anything, and ignores an invalid raise signal', async () => {
    const { name, file } = fakeFile(100);
    gateAt(file, 0);
    const handle = await start({ file: name, perMinute: 60 });
    await eventually('the first chunk', async () => (file.gate?.started ? true : undefined));
    const refused = await rejection(
      handle.executeUpdate(raiseRateUpdate, { args: [{ perMinute: 0, forMs: 1_000 }] }),
    );
    expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((refused as WorkflowUpdateFailedError).cause?.message).toMatch(
      /perMinute must be an integer from 1 to 100000 \(got 0\)/,
    );
    await handle.signal(raiseRateSignal, { perMinute: 500, forMs: -5 });
    const status = await handle.query(massUpdateStatusQuery);
    expect(status).toMatchObject({ perMinute: 60, raisedPerMinute: null });
    // Run to the end rather than terminate with a chunk in flight (which holds the test server's clock).
    file.gate?.release();
    expect(await handle.result()).toMatchObject({ state: 'completed', applied: 100 });
    expect(file.chunks.every((chunk) => chunk.perMinute === 60)).toBe(true);
  });

  it('pauses after the chunk in progress and resumes where it stopped', async () => {
    const { name, file } = fakeFile(300);
    gateAt(file, 0);
    const handle = await start({ file: name, perMinute: 180 });
    await eventually('the first chunk', async () => (file.gate?.started ? true : undefined));

    const paused = await handle.executeUpdate(massUpdatePauseUpdate);
    expect(paused).toMatchObject({ state: 'paused', eta: null });
    file.gate?.release();
    await eventually('the first chunk done', async () => {
      const status = await handle.query(massUpdateStatusQuery);
      return status.rowsDone === 15 ? status : undefined;
    });
    await env.sleep(10 * minute);
    expect(file.chunks).toHaveLength(1);
    const stillPaused = await handle.query(massUpdateStatusQuery);
    expect(stillPaused).toMatchObject({ state: 'paused', rowsDone: 15, nextLine: 17, percentDone: 5 });

    const resumed = await handle.executeUpdate(massUpdateResumeUpdate);
    expect(resumed.state).toBe('running');
    expect(resumed.eta).not.toBeNull();
    const final = await handle.result();
    expect(final).toMatchObject({ state: 'completed', rowsDone: 300, applied: 300 });
    expect(file.chunks[1]?.fromLine).toBe(17);
    // The paused time does not count against the achieved rate.
    expect(final.achievedPerMinute).toBeGreaterThanOrEqual(170);
  });

  it('counts bad rows as parked while the rest goes on, and a chunk that fails pauses it with the reason', async () => {
    const { name, file } = fakeFile(100, {
      unreadable: new Set([3, 10, 47]),
      refused: new Set([20]),
      failOnceAt: 2,
    });
    const handle = await start({ file: name, perMinute: 180 });
    // Not awaiting the result yet: while paused, nothing is due, and the test server would skip time forever.
    const paused = await eventually('the failed chunk', async () => {
      const status = await handle.query(massUpdateStatusQuery);
      return status.state === 'paused' ? status : undefined;
    });
    expect(paused.pausedReason).toBe('the chunk from line 2 failed: S-360 answered 400');
    expect(paused).toMatchObject({ rowsDone: 0, applied: 0, parked: 0, nextLine: 2, eta: null });

    await handle.executeUpdate(massUpdateResumeUpdate);
    const final: MassUpdateStatus = await handle.result();
    expect(final).toMatchObject({
      state: 'completed',
      pausedReason: null,
      totalRows: 100,
      rowsDone: 100,
      applied: 96,
      parked: 4,
      calls: 97,
    });
    // No row skipped: the failed chunk was applied again from its first line.
    const fromLines = file.chunks.map((chunk) => chunk.fromLine);
    expect(fromLines.slice(0, 3)).toEqual([2, 2, 17]);
  });

  it('continues as new with its position, counts and raised rate', async () => {
    const { name, file } = fakeFile(300);
    updates += 1;
    const updateId = `u${updates}`;
    const handle = await env.client.workflow.signalWithStart(massUpdate, {
      workflowId: massUpdateWorkflowId(updateId),
      taskQueue,
      args: [{ updateId, file: name, perMinute: 180, chunksPerExecution: 3 }],
      signal: raiseRateSignal,
      signalArgs: [{ perMinute: 360, forMs: 60 * minute }],
    });
    started.push(handle);
    const final = await handle.result();

    expect(final).toMatchObject({
      state: 'completed',
      totalRows: 300,
      rowsDone: 300,
      applied: 300,
      calls: 300,
    });
    expect(final.raisedPerMinute).toBe(360);
    expect(file.chunks.map((chunk) => chunk.perMinute)).toEqual(Array(10).fill(360));
    expect(file.chunks.map((chunk) => chunk.fromLine)).toEqual(
      Array.from({ length: 10 }, (_, index) => 2 + index * 30),
    );
    const description = await handle.describe();
    expect(description.runId).not.toBe(handle.signaledRunId);
    expect(final.achievedPerMinute).toBeGreaterThanOrEqual(350);
  });

  it("goes through a CRM query's records from the first one, and says where its rows come from", async () => {
    const { name, file } = fakeFile(40, { firstLine: 1 });
    const crmQuery = { target: 'crm', query: name };
    const handle = await start({ crmQuery, perMinute: 600 });
    const result = await handle.result();
    expect(result).toMatchObject({
      state: 'completed',
      file: null,
      crmQuery,
      retryOf: null,
      totalRows: 40,
      rowsDone: 40,
      applied: 40,
    });
    expect(file.chunks[0]).toMatchObject({ crmQuery, fromLine: 1 });
    // At 600 calls per minute a chunk takes up to 50 rows: the 40 records go in one, from the first.
    expect(file.chunks.map((chunk) => chunk.fromLine)).toEqual([1]);
  });

  it('fails at once on an invalid input, naming the problem', async () => {
    const handle = await start({ perMinute: 0 });
    await expect(handle.result()).rejects.toThrow();
    const description = await handle.describe();
    expect(description.status.name).toBe('FAILED');
  });

  it('takes one source only', async () => {
    const handle = await start({ file: '/data/a.csv', crmQuery: { target: 'crm', query: 'A = 1' } });
    const failure = await rejection(handle.result());
    expect(String((failure as Error & { cause?: Error }).cause?.message)).toContain(
      'give one of a file, a CRM query (crmQuery), or the update whose parked rows to retry (retryOf)',
    );
  });
});
