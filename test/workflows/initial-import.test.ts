/**
 * The initialImport workflow on Temporal's time-skipping test server, with fake activities: paging, phases,
 * concurrency, continue-as-new, pause/resume, a configuration failure, and cancellation.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import type {
  ImportActivities,
  ImportContactPageInput,
  ImportContactPageResult,
  ReleaseImportInput,
} from '../../src/activities/import-activity-types';
import {
  importPauseUpdate,
  importProgressQuery,
  importResumeUpdate,
  initialImport,
  initialImportWorkflowId,
  pauseSignal,
  resumeSignal,
  type ImportProgress,
  type ImportSettings,
} from '../../src/workflows';
import { emptyImportPageCounts } from '../../src/workflows/import-page-counts';
import { eventually } from '../helpers/free-port';
import { rejection } from '../helpers/rejection';
import { workflowTestBed } from '../helpers/workflow-test-bed';

jest.setTimeout(120_000);

const taskQueue = 'initial-import-test';

/** The S-360 contacts of one fake target and what the import did with them. */
class FakeImport {
  /** Pages imported, in the order they started. */
  pages: ImportContactPageInput[] = [];
  released: ReleaseImportInput[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Pages that fail with a configuration failure (refused credentials) until `credentialsFixed`. */
  refusedPages = new Set<number>();
  credentialsFixed = false;
  /** Pages whose first attempt S-360 throttles, asking to come back in 70 seconds. */
  throttledOnce = new Set<number>();
  /** While set, pages from `holdFrom` on wait for it (heartbeating, so that a cancellation reaches them). */
  gate: Promise<void> | undefined;
  holdFrom = 0;
  openGate: (() => void) | undefined;

  constructor(
    readonly structures: number,
    readonly individuals: number,
  ) {}

  close(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }
  open(): void {
    this.openGate?.();
    this.gate = undefined;
  }
}

const targets = new Map<string, FakeImport>();
const fake = (target: string): FakeImport => {
  const found = targets.get(target);
  if (!found) throw new Error(`no fake target ${target}`);
  return found;
};

const activities: ImportActivities = {
  async listImportContacts(input) {
    const [target] = input.listId.split('/')[0]?.split(':').slice(1) ?? [];
    const import_ = fake(target ?? '');
    return {
      listed: input.criteria.contactType === 'STRUCTURE' ? import_.structures : import_.individuals,
      relisted: 0,
    };
  },
  async importContactPage(input): Promise<ImportContactPageResult> {
    const import_ = fake(input.target);
    import_.pages.push(input);
    import_.inFlight += 1;
    import_.maxInFlight = Math.max(import_.maxInFlight, import_.inFlight);
    try {
      if (import_.refusedPages.has(input.fromSeq) && !import_.credentialsFixed && isIndividuals(input)) {
        throw ApplicationFailure.create({
          type: 'Configuration',
          nonRetryable: true,
          message: 'CRM refused the credentials (401)',
        });
      }
      if (import_.throttledOnce.has(input.fromSeq) && Context.current().info.attempt === 1) {
        throw ApplicationFailure.create({
          type: 'Throttled',
          message: 'S-360 throttled (509)',
          nextRetryDelay: '70 seconds',
        });
      }
      while (import_.gate && input.fromSeq >= import_.holdFrom) {
        Context.current().heartbeat();
        await Promise.race([import_.gate, Context.current().sleep(50)]);
        if (Context.current().cancellationSignal.aborted) throw Context.current().cancellationSignal.reason;
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
      const total = isIndividuals(input) ? import_.individuals : import_.structures;
      const contacts = Math.max(0, Math.min(input.count, total - input.fromSeq));
      return {
        ...emptyImportPageCounts(),
        contacts,
        imported: contacts,
        pushes: Math.ceil(contacts / input.payloadSize),
      };
    } finally {
      import_.inFlight -= 1;
    }
  },
  async releaseImport(input) {
    fake(input.target).released.push(input);
    return { released: 3 };
  },
};

const isIndividuals = (page: ImportContactPageInput): boolean => page.listId.endsWith('/individuals');

describe('initialImport workflow', () => {
  const bed = workflowTestBed({ taskQueue, activities });
  const { withWorker } = bed;
  let targetCount = 0;

  async function start(import_: FakeImport, settings: Partial<ImportSettings>, criteria = {}) {
    targetCount += 1;
    const target = `t${targetCount}`;
    targets.set(target, import_);
    const handle = await bed.env.client.workflow.start(initialImport, {
      workflowId: initialImportWorkflowId(target),
      taskQueue,
      args: [{ target, settings, criteria }],
    });
    bed.stopAfterTest(handle);
    return { handle, target };
  }

  const pageStarts = (import_: FakeImport, phase: 'structures' | 'individuals') =>
    import_.pages
      .filter((page) => page.listId.endsWith(`/${phase}`))
      .map((page) => page.fromSeq)
      .sort((a, b) => a - b);

  it('imports every page once, structures first, a few pages at a time, and ends with the counts', async () => {
    const import_ = new FakeImport(25, 230);
    // Pages from position 40 on (individuals from the third page) wait for the test: three of them in flight at
    // once, whatever the timing.
    import_.holdFrom = 40;
    import_.close();
    await withWorker(async () => {
      const { handle } = await start(import_, { pageSize: 20, concurrency: 3 });
      await eventually('three pages in flight', async () => (import_.inFlight === 3 ? true : undefined));
      import_.open();
      const result = await handle.result();

      expect(result).toMatchObject({ state: 'completed', done: 255, total: 255 });
      expect(result.totals).toMatchObject({ imported: 255, pages: 2 + 12 });
      expect(pageStarts(import_, 'structures')).toEqual([0, 20]);
      expect(pageStarts(import_, 'individuals')).toEqual(Array.from({ length: 12 }, (_, i) => i * 20));
      // Every structure page started before any individual page.
      const firstIndividual = import_.pages.findIndex(isIndividuals);
      expect(import_.pages.slice(0, firstIndividual).every((page) => !isIndividuals(page))).toBe(true);
      expect(import_.pages.slice(firstIndividual).every(isIndividuals)).toBe(true);
      expect(import_.maxInFlight).toBe(3);
      expect(
        import_.pages.every((page) => page.payloadSize === 50 && page.claimId.startsWith('import:')),
      ).toBe(true);
      // At the end, what the import still holds is released and its lists forgotten.
      expect(import_.released).toHaveLength(1);
      expect(import_.released[0]?.listIds).toHaveLength(2);
    });
  });

  it('imports only the contact type asked for', async () => {
    const import_ = new FakeImport(40, 100);
    await withWorker(async () => {
      const { handle } = await start(import_, { pageSize: 50 }, { contactType: 'INDIVIDUAL' });
      expect(await handle.result()).toMatchObject({ state: 'completed', total: 100, done: 100 });
      expect(pageStarts(import_, 'structures')).toEqual([]);
    });
  });

  it('continues as new every 100 pages without losing or repeating a page', async () => {
    const import_ = new FakeImport(0, 230);
    await withWorker(async () => {
      const { handle } = await start(import_, { pageSize: 1, concurrency: 4 });
      const result = await handle.result();
      expect(result).toMatchObject({ state: 'completed', done: 230, total: 230 });
      expect(pageStarts(import_, 'individuals')).toEqual(Array.from({ length: 230 }, (_, i) => i));
      expect(result.totals.pages).toBe(230);
      // The last execution started after two continue-as-new, with the pages before carried over.
      const history = await handle.fetchHistory();
      const startedEvent = history.events?.[0]?.workflowExecutionStartedEventAttributes;
      expect(startedEvent?.continuedExecutionRunId).toBeTruthy();
      expect(history.events?.length ?? 0).toBeLessThan(1000);
    });
  });

  it('pauses between pages and resumes where it was, by update or by signal', async () => {
    const import_ = new FakeImport(0, 100);
    await withWorker(async () => {
      import_.close();
      const { handle } = await start(import_, { pageSize: 10, concurrency: 2 });
      await eventually('two pages in flight', async () => (import_.inFlight === 2 ? true : undefined));

      const paused = await handle.executeUpdate(importPauseUpdate);
      expect(paused.state).toBe('paused');
      import_.open();
      await eventually('the pages in flight finished', async () => {
        const progress = await handle.query(importProgressQuery);
        return progress.done === 20 ? progress : undefined;
      });
      // Paused: no new page, however long it waits.
      await bed.env.sleep('1 hour');
      expect(import_.pages).toHaveLength(2);
      expect((await handle.query(importProgressQuery)).state).toBe('paused');

      const resumed = await handle.executeUpdate(importResumeUpdate);
      expect(resumed.state).toBe('importing');
      await handle.signal(pauseSignal);
      await handle.signal(resumeSignal);
      expect(await handle.result()).toMatchObject({ state: 'completed', done: 100 });
      expect(pageStarts(import_, 'individuals')).toEqual(Array.from({ length: 10 }, (_, i) => i * 10));
    });
  });

  it('gives no rate within the first minute of pages (the S-360 budget bursts), then a rate and an ETA', async () => {
    const import_ = new FakeImport(0, 40);
    // The second page comes back 70 seconds later (time skipped); the third page waits for the test.
    import_.throttledOnce.add(10);
    import_.holdFrom = 20;
    import_.close();
    await withWorker(async () => {
      const { handle } = await start(import_, { pageSize: 10, concurrency: 1 });
      // The first page was done within a blink: 10 contacts in a few ms is no rate to tell an operator.
      const early = await eventually('the first page done', async () => {
        const progress = await handle.query(importProgressQuery);
        return progress.done === 10 ? progress : undefined;
      });
      expect(early).toMatchObject({ state: 'importing', ratePerSecond: null, etaSeconds: null });

      // The second page's retry, 70 seconds on (nothing runs meanwhile, so the test server skips the wait).
      await bed.env.sleep('75 seconds');
      const later = await eventually('the second page done, after the first minute', async () => {
        const progress = await handle.query(importProgressQuery);
        return progress.done === 20 ? progress : undefined;
      });
      // 20 contacts in about 70 seconds of workflow time, 20 left.
      expect(later.ratePerSecond).toBeGreaterThan(0.25);
      expect(later.ratePerSecond).toBeLessThan(0.3);
      expect(later.etaSeconds).toBeGreaterThan(60);
      expect(later.etaSeconds).toBeLessThan(80);
      import_.open();
      expect(await handle.result()).toMatchObject({ state: 'completed', done: 40 });
    });
  });

  it('pauses itself with the reason on refused credentials, and imports that page again after resume', async () => {
    const import_ = new FakeImport(0, 50);
    import_.refusedPages.add(20);
    await withWorker(async () => {
      const { handle } = await start(import_, { pageSize: 10, concurrency: 1 });
      const paused = await eventually('paused by the import', async () => {
        const progress = await handle.query(importProgressQuery);
        return progress.state === 'paused' ? progress : undefined;
      });
      expect(paused.pausedReason).toContain('refused the credentials');
      expect(paused.done).toBe(20);

      import_.credentialsFixed = true;
      await handle.executeUpdate(importResumeUpdate);
      const result = await handle.result();
      expect(result).toMatchObject({ state: 'completed', done: 50, pausedReason: null });
      expect(pageStarts(import_, 'individuals')).toEqual([0, 10, 20, 20, 30, 40]);
    });
  });

  it('on cancel, stops the pages in flight, releases what it holds and says how far it got', async () => {
    const import_ = new FakeImport(0, 100);
    await withWorker(async () => {
      import_.holdFrom = 30;
      import_.close();
      const { handle } = await start(import_, { pageSize: 10, concurrency: 2 });
      await eventually('three pages done and two held', async () => {
        const progress = await handle.query(importProgressQuery);
        return progress.done === 30 && import_.inFlight === 2 ? progress : undefined;
      });
      await handle.cancel();
      const result: ImportProgress = await handle.result();
      expect(result).toMatchObject({ state: 'cancelled', done: 30, total: 100 });
      // The two pages in flight were cancelled, not finished.
      expect(import_.inFlight).toBe(0);
      expect(result.finishedAt).not.toBeNull();
      expect(import_.released).toHaveLength(1);
      expect(import_.released[0]?.claimIdPrefix).toMatch(/^import:t\d+\/.+\/$/);
      import_.open();
    });
  });

  it('refuses invalid settings at once, naming the setting', async () => {
    await withWorker(async () => {
      const { handle } = await start(new FakeImport(0, 10), { payloadSize: 51 });
      const err = await rejection(handle.result());
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err as WorkflowFailedError).cause?.message).toContain(
        'payloadSize must be an integer from 1 to 50',
      );
    });
  });
});
