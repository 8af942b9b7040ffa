import type { Command } from 'commander';
import { startService } from '../../worker';
import { configFor, output, type CliIo } from '../cli-context';
import { untilInterrupted } from '../until-interrupted';

/** `crm-sync worker`: the Temporal worker with the S-360 notification receiver, until SIGINT/SIGTERM. */
export function registerWorkerCommand(program: Command, io: CliIo): void {
  program
    .command('worker')
    .description('run the Temporal worker and the S-360 notification receiver until interrupted')
    .action(async (_options, command: Command) => {
      const config = configFor(command, io);
      const service = await startService(config);
      output(
        command,
        io,
        { receiver: service.receiver.url, temporal: config.temporal, dataDir: config.dataDir },
        () =>
          [
            `crm-sync worker polling task queue "${config.temporal.taskQueue}" on ${config.temporal.address}`,
            `S-360 notifications: POST ${service.receiver.url}/notifications/s360`,
            `Admin API:           ${service.receiver.url}/api`,
            'Ctrl-C to stop.',
          ].join('\n'),
      );
      await untilInterrupted(service.finished);
      await service.shutdown();
    });
}
