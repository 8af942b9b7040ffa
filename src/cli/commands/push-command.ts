import { WorkflowNotFoundError } from '@temporalio/client';
import type { Command } from 'commander';
import { connectTemporalClient, TemporalUnreachableError } from '../../client';
import { contactNumberSchema } from '../../adapters/s360/s360-contact';
import { outboundSyncWorkflowId, triggerSignal } from '../../workflows';
import { CliError, configFor, output, type CliIo } from '../cli-context';
import { resolveTarget } from '../target-option';
import { adminApi } from '../admin-api';

/** The most contacts one admin API call queues. */
const ENQUEUE_CHUNK = 500;

/** `crm-sync push <contactNumber...>`: sends contacts to the CRM now, whatever the schedule. */
export function registerPushCommand(program: Command, io: CliIo): void {
  program
    .command('push')
    .description(
      'send contacts to the CRM now, whatever the schedule: queues them (asks the running worker) and ' +
        'triggers the outbound sync of the target',
    )
    .argument('<contactNumbers...>', 'S-360 contact numbers')
    .option('-t, --target <name>', 'CRM target (default: the only or the "default" one)')
    .action(async (given: string[], options: { target?: string }, command: Command) => {
      const bad = given.filter((contactNumber) => !contactNumberSchema.safeParse(contactNumber).success);
      if (bad.length > 0) {
        throw new CliError(
          `not a contact number (1 to 20 digits): ${bad.map((value) => `"${value}"`).join(', ')}`,
          2,
        );
      }
      const contactNumbers = [...new Set(given)];
      const config = configFor(command, io);
      const target = resolveTarget(config, options.target);

      let queued = 0;
      for (let start = 0; start < contactNumbers.length; start += ENQUEUE_CHUNK) {
        const result = await adminApi<{ queued: number }>(config, 'POST', 'api/outbox/enqueue', {
          json: {
            target,
            direction: 'outbound',
            contactNumbers: contactNumbers.slice(start, start + ENQUEUE_CHUNK),
          },
        });
        queued += result.queued;
      }

      const workflowId = outboundSyncWorkflowId(target);
      const stillQueued = `${queued} contact(s) are queued for target "${target}" and go with its next run`;
      const client = await connectTemporalClient(config.temporal).catch((err: unknown) => {
        if (err instanceof TemporalUnreachableError) io.stderr.write(`crm-sync: ${stillQueued}.\n`);
        throw err;
      });
      try {
        await client.workflow.getHandle(workflowId).signal(triggerSignal);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) {
          throw new CliError(
            `no outbound sync is running for target "${target}" (${stillQueued}): start it with ` +
              `\`crm-sync outbound start --target ${target}\``,
          );
        }
        throw err;
      } finally {
        await client.connection.close();
      }
      output(
        command,
        io,
        { target, queued, workflowId, triggered: true },
        () => `Queued ${queued} contact(s) for target "${target}" and triggered ${workflowId}.`,
      );
    });
}
