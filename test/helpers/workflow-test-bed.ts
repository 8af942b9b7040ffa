/**
 * What every time-skipping workflow test file needs: one test server and one workflow bundle per file, a worker per
 * test, and the workflows a test started terminated after it, passed or failed.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { createTimeSkippingEnv } from './temporal-env';

/** Registers the file's hooks (call it inside `describe`). */
export function workflowTestBed(options: { taskQueue: string; activities: object }) {
  let env: TestWorkflowEnvironment;
  let code: string;
  const started: WorkflowHandle[] = [];

  beforeAll(async () => {
    const [testEnv, bundle] = await Promise.all([
      createTimeSkippingEnv(),
      bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows') }),
    ]);
    env = testEnv;
    code = bundle.code;
  });

  afterEach(async () => {
    await Promise.all(
      started.splice(0).map((handle) => handle.terminate('test over').catch(() => undefined)),
    );
  });

  afterAll(async () => {
    await env?.teardown();
  });

  return {
    /** Runs `body` with a worker polling the test task queue; the worker stops when `body` settles. */
    async withWorker(body: () => Promise<void>): Promise<void> {
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue: options.taskQueue,
        workflowBundle: { code },
        activities: options.activities,
      });
      await worker.runUntil(body);
    },
    /** Terminates `handle` after the test (a workflow that would not end by itself). */
    stopAfterTest(handle: WorkflowHandle): void {
      started.push(handle);
    },
    /** The test environment (available once the file's `beforeAll` has run). */
    get env(): TestWorkflowEnvironment {
      return env;
    },
  };
}
