import type { Command } from 'commander';
import got, { HTTPError, RequestError } from 'got';
import type { CrmSyncConfig } from '../../config/config-schema';
import type { ParkedRecord } from '../../store/sync-store';
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

/** The worker's admin API (the embedded store belongs to the worker process). */
async function adminApi<T>(
  config: CrmSyncConfig,
  method: 'GET' | 'POST',
  path: string,
  options: { searchParams?: Record<string, string | number>; json?: unknown },
): Promise<T> {
  const host = ['0.0.0.0', '::'].includes(config.receiver.host) ? '127.0.0.1' : config.receiver.host;
  const baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${config.receiver.port}/`;
  try {
    return await got(path, {
      prefixUrl: baseUrl,
      method,
      ...options,
      headers: config.receiver.adminToken ? { authorization: `Bearer ${config.receiver.adminToken}` } : {},
      timeout: { request: 10_000 },
      retry: { limit: 0 },
    }).json<T>();
  } catch (err) {
    if (err instanceof HTTPError) {
      throw new CliError(`the worker answered ${err.response.statusCode}: ${String(err.response.body)}`);
    }
    if (err instanceof RequestError) {
      throw new CliError(
        `cannot reach the crm-sync worker at ${baseUrl} (${err.code}): is \`crm-sync worker\` running?`,
      );
    }
    throw err;
  }
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
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.slice(0, 200).map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ');
  return [`${parked.length} parked record(s) for target "${target}":`, line(header), ...rows.map(line)].join(
    '\n',
  );
}
