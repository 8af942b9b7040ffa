/**
 * What the time-skipping tests of the sync workflows share: the test bed (server, bundle, worker per test), a fake
 * target per started workflow, and waits that do not hold the test server's clock.
 */
import type { QueryDefinition, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { inboundSync, outboundSync } from '../../src/workflows';
import type { OutboundSyncSettings } from '../../src/workflows/outbound-sync-settings';
import { eventually } from './free-port';
import { workflowTestBed } from './workflow-test-bed';

type SyncWorkflow = typeof outboundSync | typeof inboundSync;

export interface SyncWorkflowHarnessOptions<Status, Fake extends { claims: Map<string, string[]> }> {
  taskQueue: string;
  /** The fake activities, which find their fake target in `targets` by name. */
  activities: object;
  workflow: SyncWorkflow;
  workflowId(target: string): string;
  statusQuery: QueryDefinition<Status>;
  targets: Map<string, Fake>;
}

/** Registers the file's hooks (call it inside `describe`) and returns the helpers the tests use. */
export function syncWorkflowHarness<Status, Fake extends { claims: Map<string, string[]> }>(
  options: SyncWorkflowHarnessOptions<Status, Fake>,
) {
  const bed = workflowTestBed({ taskQueue: options.taskQueue, activities: options.activities });
  let targetCount = 0;

  /** Starts a workflow for a new fake target. */
  async function start(fakeTarget: Fake, settings: Partial<OutboundSyncSettings> = {}) {
    targetCount += 1;
    const target = `t${targetCount}`;
    options.targets.set(target, fakeTarget);
    const handle: WorkflowHandleWithFirstExecutionRunId = await bed.env.client.workflow.start(
      options.workflow,
      {
        workflowId: options.workflowId(target),
        taskQueue: options.taskQueue,
        args: [{ target, settings }],
      },
    );
    bed.stopAfterTest(handle);
    const status = (): Promise<Status> => handle.query(options.statusQuery);
    const statusWhen = (what: string, done: (s: Status) => boolean) =>
      eventually(what, async () => {
        const current = await status();
        return done(current) ? current : undefined;
      });
    /**
     * The status once `runs` runs have finished and the workflow has continued as new. Waits without querying: a
     * query that reaches a run while it continues as new can stay unanswered on the time-skipping test server, and
     * then holds its clock (the real server answers it).
     */
    const afterRuns = async (runs: number): Promise<Status> => {
      await eventually(`${runs} runs`, async () => {
        const claimId = [...fakeTarget.claims.keys()][runs - 1];
        if (claimId === undefined) return undefined;
        const description = await handle.describe();
        const continued = description.runId !== claimId.slice(claimId.lastIndexOf('/') + 1);
        return continued && description.status.name === 'RUNNING' ? true : undefined;
      });
      return status();
    };
    return { target, handle, status, statusWhen, afterRuns };
  }

  return {
    withWorker: bed.withWorker,
    start,
    taskQueue: options.taskQueue,
    /** Terminates `handle` after the test, like the workflows `start` starts. */
    stopAfterTest: bed.stopAfterTest,
    /** The test environment (available once the file's `beforeAll` has run). */
    get env(): TestWorkflowEnvironment {
      return bed.env;
    },
  };
}
