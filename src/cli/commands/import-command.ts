import {
  WorkflowExecutionAlreadyStartedError,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Command } from 'commander';
import { defaultPayloadConverter } from '@temporalio/common';
import type { ImportCriteria } from '../../activities/import-activity-types';
import type { PageProgress } from '../../activities/import-activities';
import {
  formatDuration,
  importPauseUpdate,
  importProgressQuery,
  importProgressText,
  importResumeUpdate,
  initialImport,
  initialImportWorkflowId,
  validateImportSettings,
  type ImportProgress,
  type ImportSettings,
} from '../../workflows';
import { CliError, globalOptions, integerOption, output, type CliIo } from '../cli-context';
import { unlessWorkflowMissing, withClient } from './sync-commands';

interface StartOptions {
  target?: string;
  contactType?: string;
  modifiedSince?: string;
  pageSize?: number;
  payloadSize?: number;
  concurrency?: number;
  watch?: boolean;
}

/** `crm-sync import start|status|pause|resume|cancel`: the initial import of a CRM target. */
export function registerImportCommands(program: Command, io: CliIo): void {
  const importCommand = program
    .command('import')
    .description(
      'the initial import of S-360 contacts into a CRM target (one at a time per target: import:<target>)',
    );
  const withTarget = (command: Command): Command =>
    command.option('-t, --target <name>', 'CRM target (default: the only or the "default" one)');

  withTarget(importCommand.command('start'))
    .description('import every S-360 contact chosen (all by default) into the target, structures first')
    .option('--contact-type <type>', 'only INDIVIDUAL or only STRUCTURE contacts')
    .option(
      '--modified-since <timestamp>',
      'only contacts changed since then (ISO 8601, e.g. 2024-01-31T00:00:00Z)',
    )
    .option('--page-size <n>', 'contacts per page (one activity each), 1..5000', integerOption('--page-size'))
    .option('--payload-size <n>', 'contacts per CRM push, 1..50', integerOption('--payload-size'))
    .option('--concurrency <n>', 'pages imported at once, 1..32', integerOption('--concurrency'))
    .option('--watch', 'then show its progress until it ends')
    .action(async (options: StartOptions, command: Command) => {
      const criteria = criteriaFrom(options);
      const settings = settingsFrom(options);
      await withClient(command, io, options.target, async (client, config, target) => {
        const workflowId = initialImportWorkflowId(target);
        let started = true;
        try {
          await client.workflow.start(initialImport, {
            workflowId,
            taskQueue: config.temporal.taskQueue,
            args: [{ target, criteria, settings }],
          });
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          started = false;
        }
        const handle = client.workflow.getHandle<typeof initialImport>(workflowId);
        const progress = await progressOf(handle, target);
        output(command, io, { started, workflowId, progress }, () =>
          [
            started
              ? `Started ${workflowId}.`
              : `${workflowId} is already running; follow it with \`crm-sync import status --watch\`.`,
            formatImportProgress(workflowId, progress),
          ].join('\n'),
        );
        if (options.watch) await watch(handle, target, command, io);
      });
    });

  withTarget(importCommand.command('status'))
    .description("done / total, rate, ETA and counts of the target's import (the last one, if it ended)")
    .option('--watch', 'show a progress bar until the import ends')
    .action(async (options: { target?: string; watch?: boolean }, command: Command) => {
      await withClient(command, io, options.target, async (client, _config, target) => {
        const handle = client.workflow.getHandle<typeof initialImport>(initialImportWorkflowId(target));
        if (options.watch) {
          await watch(handle, target, command, io);
          return;
        }
        const progress = await progressOf(handle, target);
        output(command, io, progress, () => formatImportProgress(handle.workflowId, progress));
      });
    });

  const updateCommand = (name: 'pause' | 'resume', description: string, done: string) =>
    withTarget(importCommand.command(name))
      .description(description)
      .action(async (options: { target?: string }, command: Command) => {
        await withClient(command, io, options.target, async (client, _config, target) => {
          const handle = client.workflow.getHandle<typeof initialImport>(initialImportWorkflowId(target));
          const progress = await notFoundAsCliError(target, () =>
            handle.executeUpdate(name === 'pause' ? importPauseUpdate : importResumeUpdate),
          );
          output(
            command,
            io,
            progress,
            () => `${done}\n${formatImportProgress(handle.workflowId, progress)}`,
          );
        });
      });
  updateCommand('pause', 'stop taking new pages (pages in flight finish)', 'Paused.');
  updateCommand('resume', 'take pages again', 'Resumed.');

  withTarget(importCommand.command('cancel'))
    .description('stop the import: pages in flight stop, what it holds goes back, and it says how far it got')
    .action(async (options: { target?: string }, command: Command) => {
      await withClient(command, io, options.target, async (client, _config, target) => {
        const handle = client.workflow.getHandle<typeof initialImport>(initialImportWorkflowId(target));
        await notFoundAsCliError(target, () => handle.cancel());
        const progress = await handle.result();
        output(
          command,
          io,
          progress,
          () => `Cancelled.\n${formatImportProgress(handle.workflowId, progress)}`,
        );
      });
    });
}

/** The progress: the query while the import runs, its result once it ended. */
async function progressOf(
  handle: WorkflowHandle<typeof initialImport>,
  target: string,
): Promise<ImportProgress> {
  return (await progressAndDescription(handle, target)).progress;
}

/** The progress, and the workflow's description it was read with (its pending activities). */
async function progressAndDescription(
  handle: WorkflowHandle<typeof initialImport>,
  target: string,
): Promise<{ progress: ImportProgress; description: WorkflowExecutionDescription }> {
  const description = await notFoundAsCliError(target, () => handle.describe());
  if (description.status.name === 'COMPLETED') return { progress: await handle.result(), description };
  if (description.status.name !== 'RUNNING') {
    throw new CliError(
      `the import of target "${target}" ended ${description.status.name.toLowerCase()}` +
        ` (see ${handle.workflowId} in the Temporal Web UI)`,
    );
  }
  return { progress: await handle.query(importProgressQuery), description };
}

/**
 * Contacts handled by the pages in flight, from their heartbeats (the query counts finished pages only; a page at
 * the S-360 budget takes a minute or more).
 */
function contactsInFlight(description: WorkflowExecutionDescription): number {
  let contacts = 0;
  for (const activity of description.raw.pendingActivities ?? []) {
    const payload = activity.heartbeatDetails?.payloads?.[0];
    if (activity.activityType?.name !== 'importContactPage' || !payload) continue;
    const details = defaultPayloadConverter.fromPayload<Partial<PageProgress>>(payload);
    const counts = details.counts;
    if (!counts) continue;
    contacts +=
      counts.imported +
      counts.rejected +
      counts.parked +
      counts.unchanged +
      counts.leftToOutboundSync +
      (details.preparing ?? 0);
  }
  return contacts;
}

/** Shows the progress until the import ends: a bar redrawn in place on a terminal, a line per change otherwise. */
async function watch(
  handle: WorkflowHandle<typeof initialImport>,
  target: string,
  command: Command,
  io: CliIo,
): Promise<void> {
  const terminal = Boolean((io.stdout as NodeJS.WriteStream).isTTY) && !globalOptions(command).json;
  let last = '';
  // The rate seen by this watch: contacts (finished pages and pages in flight) over the last polls.
  const seen: Array<[number, number]> = [];
  for (;;) {
    const { progress: finished, description } = await progressAndDescription(handle, target);
    const ended = finished.state === 'completed' || finished.state === 'cancelled';
    const progress = ended ? finished : withPagesInFlight(description, finished, seen);
    if (globalOptions(command).json) {
      const line = JSON.stringify(progress);
      if (line !== last || ended) io.stdout.write(`${line}\n`);
      last = line;
    } else {
      const line = progressBar(progress);
      if (terminal) io.stdout.write(`\r\u001b[2K${line}`);
      else if (line !== last) io.stdout.write(`${line}\n`);
      last = line;
    }
    if (ended) {
      if (terminal) io.stdout.write('\n');
      if (!globalOptions(command).json)
        io.stdout.write(`${formatImportProgress(handle.workflowId, progress)}\n`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

/** The progress with the pages in flight counted, and the rate and ETA as seen over the last polls. */
function withPagesInFlight(
  description: WorkflowExecutionDescription,
  progress: ImportProgress,
  seen: Array<[number, number]>,
): ImportProgress {
  if (progress.state !== 'importing' || progress.total === null) return progress;
  const done = Math.min(progress.total, progress.done + contactsInFlight(description));
  seen.push([Date.now(), done]);
  if (seen.length > 30) seen.shift();
  const [firstAt, firstDone] = seen[0] ?? [0, 0];
  const elapsed = (Date.now() - firstAt) / 1000;
  const rate = elapsed >= 2 ? (done - firstDone) / elapsed : progress.ratePerSecond;
  return {
    ...progress,
    done,
    ratePerSecond: rate,
    etaSeconds: rate !== null && rate > 0 ? Math.ceil((progress.total - done) / rate) : null,
  };
}

const barWidth = 30;

/** `[#########.....................]  31.0%  3,100 / 10,000  42.5/s  ETA 2m 42s` */
export function progressBar(progress: ImportProgress): string {
  if (progress.total === null) return `listing contacts... ${progress.done.toLocaleString('en-US')}`;
  const fraction = progress.total === 0 ? 1 : Math.min(1, progress.done / progress.total);
  const filled = Math.round(fraction * barWidth);
  const parts = [
    `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]`,
    `${(fraction * 100).toFixed(1).padStart(5)}%`,
    `${progress.done.toLocaleString('en-US')} / ${progress.total.toLocaleString('en-US')}`,
  ];
  if (progress.state === 'paused')
    parts.push(`paused${progress.pausedReason ? `: ${progress.pausedReason}` : ''}`);
  else if (progress.state === 'importing') {
    if (progress.ratePerSecond !== null) parts.push(`${progress.ratePerSecond.toFixed(1)}/s`);
    if (progress.etaSeconds !== null) parts.push(`ETA ${formatDuration(progress.etaSeconds)}`);
  } else parts.push(progress.state);
  return parts.join('  ');
}

/** The progress as a person reads it. */
export function formatImportProgress(workflowId: string, progress: ImportProgress): string {
  const { totals, settings } = progress;
  const lines = [
    `${workflowId}: ${importProgressText(progress)}`,
    `  settings: pages of ${settings.pageSize}, ${settings.payloadSize} per push, ${settings.concurrency} pages at once`,
    `  started:  ${progress.startedAt}${progress.finishedAt ? `, ended ${progress.finishedAt}` : ''}`,
    `  counts:   imported ${totals.imported}, unchanged ${totals.unchanged}, rejected ${totals.rejected}, ` +
      `parked ${totals.parked}, left to the outbound sync ${totals.leftToOutboundSync}, ` +
      `relays waiting for their structure ${totals.heldRelays}`,
    `  pushes:   ${totals.pushes}, sent again after a crash ${totals.resumedPushes}, ` +
      `already applied by the CRM ${totals.duplicatePushes}`,
  ];
  if (totals.parked + totals.rejected > 0)
    lines.push('  see the parked contacts with `crm-sync failed list`');
  return lines.join('\n');
}

function criteriaFrom(options: StartOptions): ImportCriteria {
  const criteria: ImportCriteria = {};
  if (options.contactType !== undefined) {
    const type = options.contactType.toUpperCase();
    if (type !== 'INDIVIDUAL' && type !== 'STRUCTURE') {
      throw new CliError(`--contact-type: expected INDIVIDUAL or STRUCTURE, got "${options.contactType}"`, 2);
    }
    criteria.contactType = type;
  }
  if (options.modifiedSince !== undefined) {
    const at = Date.parse(options.modifiedSince);
    if (!/^\d{4}-\d{2}-\d{2}/.test(options.modifiedSince) || Number.isNaN(at)) {
      throw new CliError(
        `--modified-since: expected an ISO 8601 date or timestamp (e.g. 2024-01-31T00:00:00Z), got "${options.modifiedSince}"`,
        2,
      );
    }
    criteria.modifiedSince = new Date(at).toISOString();
  }
  return criteria;
}

function settingsFrom(options: StartOptions): Partial<ImportSettings> {
  const settings: Partial<ImportSettings> = {};
  if (options.pageSize !== undefined) settings.pageSize = options.pageSize;
  if (options.payloadSize !== undefined) settings.payloadSize = options.payloadSize;
  if (options.concurrency !== undefined) settings.concurrency = options.concurrency;
  const problems = validateImportSettings(settings);
  if (problems.length > 0) throw new CliError(problems.join('; '), 2);
  return settings;
}

function notFoundAsCliError<T>(target: string, call: () => Promise<T>): Promise<T> {
  return unlessWorkflowMissing(
    `no import was started for target "${target}": start one with \`crm-sync import start --target ${target}\``,
    call,
  );
}
