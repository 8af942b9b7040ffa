/**
 * The crm-sync service (worker and receiver, `startService`) in an OS process of its own, so that an end-to-end
 * test can kill it with SIGKILL and start another one on the same data folder. Started by `startServiceProcess`
 * (service-process.ts) and driven over the IPC channel: `start` (configuration and the path of a pre-built
 * workflow bundle) -> `ready` or `failed`; `stop` -> a graceful shutdown, `stopped`, exit. When the parent goes
 * away (the channel closes), the process exits at once: no service outlives its test.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { parseConfig } from '../../src/config/load-config';
import { startService, type RunningService } from '../../src/worker';

/** Parent -> service process. */
export type ServiceProcessCommand =
  { type: 'start'; config: unknown; workflowBundlePath: string } | { type: 'stop' };

/** Service process -> parent. */
export type ServiceProcessEvent =
  { type: 'ready'; receiverUrl: string } | { type: 'failed'; message: string } | { type: 'stopped' };

function send(event: ServiceProcessEvent): void {
  process.send?.(event);
}

function main(): void {
  if (!process.send) {
    process.stderr.write('service-process-main: expected to be started with an IPC channel\n');
    process.exit(2);
  }
  // Warnings and errors only: the test's output stays readable.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  let service: RunningService | undefined;
  process.on('disconnect', () => process.exit(1));
  process.on('message', (command: ServiceProcessCommand) => {
    if (command.type === 'start') {
      startService(parseConfig(command.config, 'service process'), {
        workflowBundle: { codePath: command.workflowBundlePath },
      }).then(
        (started) => {
          service = started;
          send({ type: 'ready', receiverUrl: started.receiver.url });
        },
        (err: unknown) => send({ type: 'failed', message: String((err as Error)?.stack ?? err) }),
      );
    } else if (command.type === 'stop') {
      void (async () => {
        await service?.shutdown();
        send({ type: 'stopped' });
        process.disconnect();
        process.exit(0);
      })();
    }
  });
}

main();
