import { TestWorkflowEnvironment } from '@temporalio/testing';
import { timeSkippingServerOptions } from '../../src/temporal-server/locate-binaries';

/** Temporal's time-skipping test server, found as the project finds it (variable, PATH, then download). */
export function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createTimeSkipping(timeSkippingServerOptions());
}
