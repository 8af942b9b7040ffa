import { DefaultLogger, Runtime } from '@temporalio/worker';

// Worker state changes and workflow logs are INFO; tests show warnings and errors only.
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // Already installed by an earlier test file in this Jest worker.
}
