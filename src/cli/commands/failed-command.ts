import type { Command } from 'commander';
import type { ParkedRecord } from '../../store/sync-store';
import { adminApi, formatTable } from '../admin-api';
import { CliError, configFor, integerOption, output, type CliIo } from '../cli-context';
import { resolveTarget } from '../target-option';

/** `crm-sync failed list|retry`: records that could not be synced, kept with their reason. */
export function registerFailedCommands(program: Command, io: CliIo): void {
  const failed = program
    .command('failed')
    .description('records parked because they could not be synced (asks the running worker)');

  failed
    .command('list')
    .description('list parked records with their reason, newest first')
    .option('-t, --target <name>', 'CRM target (default: the only or the "default" one)')
    .option('--direction <direction>', 'outbound (S-360 -> CRM) or inbound', 'outbound')
    .option('--limit <n>', 'at most this many', integerOption('--limit'), 100)
    .action(async (options: { target?: string; direction: string; limit: number }, command: Command) => {
      const config = configFor(command, io);
      const target = resolveTarget(config, options.target);
      const { parked } = await adminApi<{ parked: ParkedRecord[] }>(config, 'GET', 'api/parked', {
        searchParams: { target, direction: direction(options.direction), limit: options.limit },
      });
      output(command, io, parked, () => formatParked(target, parked));
    });

  failed
    .command('retry')
    .description('queue parked records again (the next run syncs them)')
    .argument('[contactNumbers...]', 'contact numbers to retry')
    .option('--all', 'retry every parked record of the target')
    .option('-t, --target <name>', 'CRM target (default: the only or the "default" one)')
    .option('--direction <direction>', 'outbound (S-360 -> CRM) or inbound', 'outbound')
    .action(
      async (
        contactNumbers: string[],
        options: { all?: boolean; target?: string; direction: string },
        command: Command,
      ) => {
        if (contactNumbers.length === 0 && !options.all) {
          throw new CliError('name the contact numbers to retry, or pass --all', 2);
        }
        if (contactNumbers.length > 0 && options.all) {
          throw new CliError('give contact numbers or --all, not both', 2);
        }
        const config = configFor(command, io);
        const target = resolveTarget(config, options.target);
        const result = await adminApi<{ requeued: number }>(config, 'POST', 'api/parked/retry', {
          json: {
            target,
            direction: direction(options.direction),
            ...(options.all ? {} : { contactNumbers }),
          },
        });
        output(
          command,
          io,
          result,
          () => `Queued ${result.requeued} record(s) again for target "${target}".`,
        );
      },
    );
}

function direction(value: string): 'outbound' | 'inbound' {
  if (value === 'outbound' || value === 'inbound') return value;
  throw new CliError(`--direction: expected outbound or inbound, got "${value}"`, 2);
}

function formatParked(target: string, parked: ParkedRecord[]): string {
  if (parked.length === 0) return `No parked records for target "${target}".`;
  const rows = parked.map((record) => [
    record.contactNumber,
    record.code,
    record.field ?? '',
    String(record.attempts),
    record.lastParkedAt,
    record.reason,
  ]);
  const header = ['CONTACT', 'CODE', 'FIELD', 'ATTEMPTS', 'LAST PARKED', 'REASON'];
  return [`${parked.length} parked record(s) for target "${target}":`, formatTable(header, rows)].join('\n');
}
