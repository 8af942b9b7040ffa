import type { Command } from 'commander';
import got, { HTTPError, RequestError } from 'got';
import type { CrmSyncConfig } from '../../config/config-schema';
import type { SyncConflict, SyncedFieldValue } from '../../store/sync-store';
import { CliError, configFor, integerOption, output, type CliIo } from '../cli-context';
import { resolveTarget } from '../target-option';

/** The most conflicts one `conflicts list` asks for (the admin API's limit). */
const MAX_LIMIT = 10_000;

/** A value longer than this is cut in the table (`--json` gives it whole). */
const MAX_CELL = 40;

/** `crm-sync conflicts list`: fields both sides changed, with both values and the decision. */
export function registerConflictsCommands(program: Command, io: CliIo): void {
  const conflicts = program
    .command('conflicts')
    .description(
      'fields changed on both sides between two syncs, and which side won (asks the running worker)',
    );

  conflicts
    .command('list')
    .description('list conflicts with both values and the decision, newest first')
    .option('-t, --target <name>', 'only this CRM target (default: every target)')
    .option('--limit <n>', `at most this many, 1..${MAX_LIMIT}`, integerOption('--limit'), 100)
    .action(async (options: { target?: string; limit: number }, command: Command) => {
      if (options.limit < 1 || options.limit > MAX_LIMIT) {
        throw new CliError(`--limit: expected 1..${MAX_LIMIT}, got ${options.limit}`, 2);
      }
      const config = configFor(command, io);
      const target = options.target === undefined ? undefined : resolveTarget(config, options.target);
      const { conflicts: rows } = await adminApi<{ conflicts: SyncConflict[] }>(
        config,
        'GET',
        'api/conflicts',
        {
          searchParams: { ...(target === undefined ? {} : { target }), limit: options.limit },
        },
      );
      output(command, io, rows, () => formatConflicts(rows));
    });
}

/**
 * Calls the worker's admin API (the embedded store belongs to the worker process). An unreachable worker or a
 * refusal is a {@link CliError} with exit code 1.
 */
export async function adminApi<T>(
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

function formatValue(value: SyncedFieldValue): string {
  const text = value === null ? '(empty)' : typeof value === 'string' ? value : JSON.stringify(value);
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > MAX_CELL ? `${oneLine.slice(0, MAX_CELL - 1)}…` : oneLine;
}

function formatConflicts(conflicts: SyncConflict[]): string {
  if (conflicts.length === 0) return 'No conflicts.';
  const rows = conflicts.map((conflict) => [
    conflict.decidedAt,
    conflict.target,
    conflict.contactNumber,
    conflict.field,
    formatValue(conflict.s360Value),
    formatValue(conflict.crmValue),
    conflict.policy,
    conflict.winner,
  ]);
  const header = ['DECIDED AT', 'TARGET', 'CONTACT', 'FIELD', 'S-360 VALUE', 'CRM VALUE', 'POLICY', 'WINNER'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ');
  return [`${conflicts.length} conflict(s), newest first:`, line(header), ...rows.map(line)].join('\n');
}
