import type { Command } from 'commander';
import type { SyncConflict, SyncedFieldValue } from '../../store/sync-store';
import { adminApi, formatTable } from '../admin-api';
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
  return [`${conflicts.length} conflict(s), newest first:`, formatTable(header, rows)].join('\n');
}
