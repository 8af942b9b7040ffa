import { basename, extname, resolve } from 'node:path';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Command } from 'commander';
import { createCrmAdapter } from '../../adapters/crm';
import { PermanentError } from '../../adapters/http/errors';
import type { CrmSyncConfig, CrmTargetConfig } from '../../config/config-schema';
import { checkUpdateFile, UpdateFileError } from '../../mass-update/update-file';
import type { MassUpdateParkedRow } from '../../store/sync-store';
import {
  massUpdate,
  massUpdatePauseUpdate,
  massUpdateResumeUpdate,
  massUpdateStatusQuery,
  massUpdateWorkflowId,
  maxRaiseMs,
  raiseRateUpdate,
  validateMassUpdateRate,
  validateRaiseRate,
  type MassUpdateStatus,
} from '../../workflows';
import type { MassUpdateCrmQuery } from '../../activities/mass-update-activity-types';
import { resolveTarget } from '../target-option';
import { adminApi, formatTable } from '../admin-api';
import { CliError, configFor, integerOption, output, type CliIo } from '../cli-context';
import { unlessWorkflowMissing, withTemporalClient } from './sync-commands';

/** What a mass update ID may be: it names the workflow (`mass-update:<id>`) and the parked rows. */
const updateIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const workflowIdPrefix = massUpdateWorkflowId('');

/**
 * `crm-sync mass-update start|status|pause|resume|raise-rate|failed|retry`: a large set of contact updates applied
 * to S-360 from a CSV file, throttled to a rate, watched and re-rated while it runs.
 */
export function registerMassUpdateCommands(program: Command, io: CliIo): void {
  const group = program
    .command('mass-update')
    .description(
      'apply a CSV file of contact updates to S-360 at a throttled rate (one workflow per update: mass-update:<id>)',
    );

  group
    .command('start')
    .description(
      'check the update file (or the CRM query), then start applying it (the worker reads the file at the same path)',
    )
    .option('-f, --file <file>', 'the update file (CSV; see the README for its columns)')
    .option(
      '--crm-query <query>',
      "the records a query selects in the CRM, in the CRM's query language, instead of a file",
    )
    .option('--target <name>', 'the CRM target the query runs on (default: the only or the default one)')
    .option(
      '--per-minute <n>',
      'S-360 calls per minute (default: the S-360 budget, s360.callsPerMinute)',
      integerOption('--per-minute'),
    )
    .option('--id <id>', 'names the mass update (default: the file name, or crm-query, and the time)')
    .action(
      async (
        options: { file?: string; crmQuery?: string; target?: string; perMinute?: number; id?: string },
        command: Command,
      ) => {
        const config = configFor(command, io);
        if ((options.file === undefined) === (options.crmQuery === undefined)) {
          throw new CliError('give either --file <file> or --crm-query <query>', 2);
        }
        if (options.target !== undefined && options.crmQuery === undefined) {
          throw new CliError('--target: only with --crm-query (a file names its contacts itself)', 2);
        }
        const source =
          options.file !== undefined
            ? { file: await checkedFile(resolve(io.cwd, options.file)) }
            : { crmQuery: await checkedCrmQuery(config, options.crmQuery as string, options.target) };
        const perMinute = options.perMinute ?? config.s360.callsPerMinute;
        checkRate(perMinute, '--per-minute');
        if (perMinute > config.s360.callsPerMinute) {
          throw new CliError(
            `--per-minute ${perMinute} is above the S-360 budget of ${config.s360.callsPerMinute} calls per minute ` +
              '(s360.callsPerMinute): S-360 would throttle. Start at the budget, and use `crm-sync mass-update ' +
              'raise-rate` for the time SecuTix raises the API limit',
            2,
          );
        }
        const updateId = options.id ?? defaultUpdateId(source.file ?? 'crm-query', new Date());
        checkUpdateId(updateId);
        const workflowId = massUpdateWorkflowId(updateId);
        await withTemporalClient(config, async (client) => {
          try {
            await client.workflow.start(massUpdate, {
              workflowId,
              taskQueue: config.temporal.taskQueue,
              args: [{ updateId, ...source, perMinute }],
              // An ID names one mass update and its parked rows, for good.
              workflowIdReusePolicy: 'REJECT_DUPLICATE',
            });
          } catch (err) {
            if (err instanceof WorkflowExecutionAlreadyStartedError) {
              throw new CliError(`a mass update "${updateId}" already exists: choose another --id`, 2);
            }
            throw err;
          }
        });
        const what =
          source.file ?? `the records of CRM ${source.crmQuery?.target} where ${source.crmQuery?.query}`;
        output(command, io, { started: true, updateId, workflowId, ...source, perMinute }, () =>
          [
            `Started ${workflowId}: ${what} at ${perMinute} S-360 calls per minute.`,
            `Follow it with \`crm-sync mass-update status --id ${updateId} --watch\`.`,
          ].join('\n'),
        );
      },
    );

  group
    .command('status')
    .description('state, rates, progress, achieved rate and ETA (default: the running mass update)')
    .option('--id <id>', 'the mass update')
    .option('-w, --watch', 'print the status every few seconds until the mass update completes')
    .option(
      '--interval <seconds>',
      'seconds between two statuses with --watch',
      integerOption('--interval'),
      5,
    )
    .action(async (options: { id?: string; watch?: boolean; interval: number }, command: Command) => {
      const config = configFor(command, io);
      if (options.id !== undefined) checkUpdateId(options.id);
      if (options.interval < 1) throw new CliError('--interval: expected at least 1 second', 2);
      await withTemporalClient(config, async (client) => {
        const updateId = options.id ?? (await currentUpdateId(client, { latest: true }));
        for (;;) {
          const status = await statusOf(client, updateId);
          output(command, io, status, () => formatMassUpdateStatus(status));
          if (!options.watch || status.state === 'completed') break;
          await new Promise((resolve) => setTimeout(resolve, options.interval * 1000));
        }
      });
    });

  const acknowledged = (name: 'pause' | 'resume', description: string, done: string) =>
    group
      .command(name)
      .description(description)
      .option('--id <id>', 'the mass update (default: the running one)')
      .action(async (options: { id?: string }, command: Command) => {
        const config = configFor(command, io);
        if (options.id !== undefined) checkUpdateId(options.id);
        await withTemporalClient(config, async (client) => {
          const updateId = options.id ?? (await currentUpdateId(client));
          const handle = client.workflow.getHandle(massUpdateWorkflowId(updateId));
          const status = await whileRunning(updateId, () =>
            handle.executeUpdate(name === 'pause' ? massUpdatePauseUpdate : massUpdateResumeUpdate),
          );
          output(command, io, status, () => `${done}\n${formatMassUpdateStatus(status)}`);
        });
      });
  acknowledged(
    'pause',
    'stop starting chunks (the chunk in progress, about 5 s of calls, finishes)',
    'Paused.',
  );
  acknowledged('resume', 'go on from where it stopped', 'Resumed.');

  group
    .command('raise-rate')
    .description(
      'use another rate for a while (SecuTix raised the API limit), then return to the base rate by itself',
    )
    .requiredOption(
      '--per-minute <n>',
      'S-360 calls per minute while it lasts',
      integerOption('--per-minute'),
    )
    .requiredOption(
      '--for <duration>',
      'how long: 90m, 2h, 1h30m, 45s (at most a week)',
      durationOption('--for'),
    )
    .option('--id <id>', 'the mass update (default: the running one)')
    .action(async (options: { perMinute: number; for: number; id?: string }, command: Command) => {
      const config = configFor(command, io);
      checkRate(options.perMinute, '--per-minute');
      if (options.id !== undefined) checkUpdateId(options.id);
      const raise = { perMinute: options.perMinute, forMs: options.for };
      const problems = validateRaiseRate(raise);
      if (problems.length > 0) throw new CliError(problems.join('; '), 2);
      await withTemporalClient(config, async (client) => {
        const updateId = options.id ?? (await currentUpdateId(client));
        const handle = client.workflow.getHandle(massUpdateWorkflowId(updateId));
        const status = await whileRunning(updateId, () =>
          handle.executeUpdate(raiseRateUpdate, { args: [raise] }),
        );
        output(command, io, status, () =>
          [
            `${options.perMinute} calls per minute from the next chunk (within 5 s) until ${status.raisedUntil}, ` +
              `then ${status.basePerMinute} again.`,
            formatMassUpdateStatus(status),
          ].join('\n'),
        );
      });
    });

  group
    .command('failed')
    .description('the rows parked with their line, contact and reason (asks the running worker)')
    .requiredOption('--id <id>', 'the mass update')
    .option('--limit <n>', 'at most this many rows', integerOption('--limit'), 1_000)
    .action(async (options: { id: string; limit: number }, command: Command) => {
      checkUpdateId(options.id);
      const config = configFor(command, io);
      const parked = await parkedRows(config, options.id, options.limit);
      output(command, io, parked, () => formatParkedRows(parked));
    });

  group
    .command('retry')
    .description('apply the parked rows again, throttled (rows that could not be read need the file fixed)')
    .requiredOption('--id <id>', 'the mass update whose parked rows to retry')
    .option(
      '--per-minute <n>',
      'S-360 calls per minute (default: the S-360 budget, s360.callsPerMinute)',
      integerOption('--per-minute'),
    )
    .action(async (options: { id: string; perMinute?: number }, command: Command) => {
      checkUpdateId(options.id);
      const config = configFor(command, io);
      const perMinute = options.perMinute ?? config.s360.callsPerMinute;
      checkRate(perMinute, '--per-minute');
      const parked = await parkedRows(config, options.id, 1);
      const unreadable = parked.parked - parked.retryable;
      const fixTheFile =
        unreadable > 0
          ? `${unreadable} row(s) could not be read and are not retried: fix them in the file and apply them in a ` +
            `new mass update (\`crm-sync mass-update failed --id ${options.id}\` lists them)`
          : '';
      if (parked.retryable === 0) {
        throw new CliError(
          `nothing to retry for mass update "${options.id}"${fixTheFile ? `: ${fixTheFile}` : ''}`,
        );
      }
      const retryId = `${options.id.slice(0, 80)}-retry-${timestamp(new Date())}`;
      const workflowId = massUpdateWorkflowId(retryId);
      await withTemporalClient(config, async (client) => {
        const original = await client.workflow
          .getHandle(massUpdateWorkflowId(options.id))
          .describe()
          .catch((err: unknown) => {
            if (err instanceof WorkflowNotFoundError) return undefined;
            throw err;
          });
        if (original?.status.name === 'RUNNING') {
          throw new CliError(
            `mass update "${options.id}" is still running: retry its parked rows once it has completed`,
          );
        }
        await client.workflow.start(massUpdate, {
          workflowId,
          taskQueue: config.temporal.taskQueue,
          args: [{ updateId: retryId, retryOf: options.id, perMinute }],
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        });
      });
      output(
        command,
        io,
        {
          started: true,
          updateId: retryId,
          workflowId,
          retryOf: options.id,
          rows: parked.retryable,
          perMinute,
        },
        () =>
          [
            `Started ${workflowId}: ${parked.retryable} parked row(s) of "${options.id}" at ${perMinute} calls per ` +
              'minute; rows applied leave the list, rows refused again stay in it.',
            ...(fixTheFile ? [`${fixTheFile}.`] : []),
            `Follow it with \`crm-sync mass-update status --id ${retryId} --watch\`.`,
          ].join('\n'),
      );
    });
}

/** Parses a duration such as `90m`, `2h`, `1h30m`, `45s` or `1d` into milliseconds, naming the option on bad input. */
export function durationOption(name: string): (value: string) => number {
  return (value: string) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      throw new CliError(`${name}: expected a duration like 90m, 2h or 1h30m, got "${value}"`, 2);
    }
    if (ms > maxRaiseMs) throw new CliError(`${name}: at most a week (7d), got "${value}"`, 2);
    return ms;
  };
}

/** `1d2h30m15s` (any of the parts, in that order, at least one): milliseconds; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const match = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?:in)?)?(?:(\d+)s)?$/.exec(text.trim().toLowerCase());
  if (!match || text.trim() === '' || match.slice(1).every((part) => part === undefined)) return undefined;
  const [days, hours, minutes, seconds] = match.slice(1).map((part) => Number(part ?? 0)) as [
    number,
    number,
    number,
    number,
  ];
  const ms = (((days * 24 + hours) * 60 + minutes) * 60 + seconds) * 1000;
  return ms > 0 ? ms : undefined;
}

/** `<file name without extension>-<UTC date and time>`, e.g. `renewals-20261123-174900`. */
/** A file that can be used, or a {@link CliError} (exit code 2) saying why not. */
async function checkedFile(file: string): Promise<string> {
  try {
    await checkUpdateFile(file);
  } catch (err) {
    if (err instanceof UpdateFileError) throw new CliError(`${err.message}; nothing was started`, 2);
    throw err;
  }
  return file;
}

/**
 * The CRM query of `--crm-query`, once the target's record search answered its first record: a target without a
 * record search, or a query the CRM refuses, is an error (exit code 2) before anything starts; a CRM that cannot be
 * reached too (exit code 1).
 */
async function checkedCrmQuery(
  config: CrmSyncConfig,
  query: string,
  requestedTarget: string | undefined,
): Promise<MassUpdateCrmQuery> {
  if (query.trim() === '') throw new CliError('--crm-query: expected a query, e.g. "Renewal__c = true"', 2);
  const target = resolveTarget(config, requestedTarget);
  const index = config.crm.targets.findIndex((candidate) => candidate.name === target);
  const adapter = createCrmAdapter(config.crm.targets[index] as CrmTargetConfig);
  if (!adapter.queryRecords) {
    throw new CliError(
      `--crm-query: CRM target "${target}" has no record search: set crm.targets[${index}].query.url in the configuration`,
      2,
    );
  }
  try {
    await adapter.queryRecords({ query, limit: 1 });
  } catch (err) {
    if (err instanceof PermanentError) {
      throw new CliError(
        `--crm-query: CRM target "${target}" refused the query: ${err.message}; nothing was started`,
        2,
      );
    }
    throw new CliError(
      `--crm-query: cannot run the query on CRM target "${target}": ${(err as Error).message}; nothing was started`,
      1,
    );
  }
  return { target, query };
}

export function defaultUpdateId(file: string, now: Date): string {
  const name = basename(file, extname(file))
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 80);
  return `${name || 'update'}-${timestamp(now)}`;
}

function timestamp(now: Date): string {
  return now
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replace(/[-:]/g, '')
    .replace('T', '-');
}

function checkUpdateId(updateId: string): void {
  if (!updateIdPattern.test(updateId)) {
    throw new CliError(
      `--id: "${updateId}" is not a mass update ID (letters, digits, ".", "_" and "-", at most 100, starting ` +
        'with a letter or digit)',
      2,
    );
  }
}

function checkRate(perMinute: number, name: string): void {
  const problem = validateMassUpdateRate(perMinute, name);
  if (problem) throw new CliError(problem, 2);
}

/**
 * The mass update meant when no --id is given: the only running one; with `latest`, the most recent one when none
 * runs.
 */
async function currentUpdateId(client: Client, options: { latest?: boolean } = {}): Promise<string> {
  const ids = async (query: string, max: number): Promise<string[]> => {
    const found: string[] = [];
    for await (const execution of client.workflow.list({ query })) {
      if (!found.includes(execution.workflowId)) found.push(execution.workflowId);
      if (found.length >= max) break;
    }
    return found.map((workflowId) => workflowId.slice(workflowIdPrefix.length));
  };
  const running = await ids("WorkflowType = 'massUpdate' AND ExecutionStatus = 'Running'", 20);
  if (running.length === 1) return running[0] as string;
  if (running.length > 1) {
    throw new CliError(`several mass updates are running (${running.join(', ')}): choose one with --id`, 2);
  }
  if (options.latest) {
    const [latest] = await ids("WorkflowType = 'massUpdate'", 1);
    if (latest !== undefined) return latest;
  }
  throw new CliError(
    'no mass update is running: name one with --id, or start one with `crm-sync mass-update start`',
  );
}

/** The status of a running mass update (query) or of a completed one (its result). */
async function statusOf(client: Client, updateId: string): Promise<MassUpdateStatus> {
  const handle: WorkflowHandle<typeof massUpdate> = client.workflow.getHandle(massUpdateWorkflowId(updateId));
  const description = await unlessWorkflowMissing(
    `no mass update "${updateId}": start one with \`crm-sync mass-update start --file F\``,
    () => handle.describe(),
  );
  if (description.status.name === 'RUNNING') return handle.query(massUpdateStatusQuery);
  try {
    return await handle.result();
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      throw new CliError(
        `mass update "${updateId}" ended without completing: ${err.cause?.message ?? err.message}`,
      );
    }
    throw err;
  }
}

/** Runs an update of a mass update, turning "not running" and refused values into clear errors. */
async function whileRunning(
  updateId: string,
  call: () => Promise<MassUpdateStatus>,
): Promise<MassUpdateStatus> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new CliError(
        `mass update "${updateId}" is not running (see \`crm-sync mass-update status --id ${updateId}\`)`,
      );
    }
    if (err instanceof WorkflowUpdateFailedError) throw new CliError(err.cause?.message ?? err.message, 2);
    throw err;
  }
}

interface ParkedRows {
  updateId: string;
  parked: number;
  retryable: number;
  rows: MassUpdateParkedRow[];
}

function parkedRows(config: CrmSyncConfig, updateId: string, limit: number): Promise<ParkedRows> {
  return adminApi<ParkedRows>(config, 'GET', `api/mass-updates/${encodeURIComponent(updateId)}/parked`, {
    searchParams: { limit },
  });
}

function formatParkedRows(parked: ParkedRows): string {
  if (parked.parked === 0) return `No parked rows for mass update "${parked.updateId}".`;
  const unreadable = parked.parked - parked.retryable;
  const lines = [
    `${parked.parked} parked row(s) of mass update "${parked.updateId}"` +
      (parked.rows.length < parked.parked ? ` (the first ${parked.rows.length} by line)` : '') +
      ':',
    formatTable(
      ['LINE', 'CONTACT', 'CODE', 'ATTEMPTS', 'REASON'],
      parked.rows.map((row) => [
        String(row.line),
        row.contactNumber ?? '',
        row.code,
        String(row.attempts),
        row.reason,
      ]),
    ),
  ];
  if (parked.retryable > 0) {
    lines.push(
      `${parked.retryable} can be applied again with \`crm-sync mass-update retry --id ${parked.updateId}\`.`,
    );
  }
  if (unreadable > 0) {
    lines.push(
      `${unreadable} could not be read (INVALID_ROW): fix them in the file and apply them in a new mass update.`,
    );
  }
  return lines.join('\n');
}

/** The status as a person reads it. */
export function formatMassUpdateStatus(status: MassUpdateStatus, now = Date.now()): string {
  const rate = status.raisedPerMinute
    ? `${status.perMinute} calls/min until ${status.raisedUntil} (${relative(Date.parse(status.raisedUntil ?? '') - now)}), ` +
      `then ${status.basePerMinute}`
    : `${status.perMinute} calls/min`;
  const rows =
    status.totalRows === null
      ? `${status.rowsDone} rows (${status.crmQuery ? 'running the query' : 'counting the file'})`
      : `${status.rowsDone} / ${status.totalRows} rows (${status.percentDone}%)`;
  const lines = [
    `${massUpdateWorkflowId(status.updateId)}: ${status.state}`,
    `  ${
      status.retryOf
        ? `retry of: ${status.retryOf} (its parked rows)`
        : status.crmQuery
          ? `query:    ${status.crmQuery.query} (CRM ${status.crmQuery.target})`
          : `file:     ${status.file ?? ''}`
    }`,
    `  rate:     ${rate}`,
    `  progress: ${rows}: ${status.applied} applied, ${status.parked} parked` +
      (status.nextLine !== null && status.state !== 'completed' ? `; next line ${status.nextLine}` : ''),
    `  achieved: ${status.achievedPerMinute !== null ? `${status.achievedPerMinute} calls/min` : 'not measured yet'}`,
    `  started:  ${status.startedAt}`,
  ];
  if (status.pausedReason) {
    lines.push(`  paused by crm-sync: ${status.pausedReason}`, '  fix the cause, then resume');
  }
  if (status.finishedAt) lines.push(`  finished: ${status.finishedAt}`);
  else if (status.eta) lines.push(`  ETA:      ${status.eta} (${relative(Date.parse(status.eta) - now)})`);
  if (status.parked > 0) {
    lines.push(`  parked rows: \`crm-sync mass-update failed --id ${status.retryOf ?? status.updateId}\``);
  }
  return lines.join('\n');
}

function relative(ms: number): string {
  if (!(ms > 1000)) return 'now';
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return `in ${Math.round(ms / 1000)} s`;
  if (minutes < 120) return `in ${minutes} min`;
  return `in ${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
