import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type SignalDefinition,
} from '@temporalio/client';
import type { Command } from 'commander';
import { connectTemporalClient } from '../../client';
import type { CrmSyncConfig } from '../../config/config-schema';
import {
  configureUpdate,
  outboundSync,
  outboundSyncWorkflowId,
  pauseSignal,
  resumeSignal,
  statusQuery,
  triggerSignal,
  validateOutboundSettings,
  type OutboundSyncSettings,
  type OutboundSyncStatus,
} from '../../workflows';
import { CliError, configFor, integerOption, output, type CliIo } from '../cli-context';
import { resolveTarget } from '../target-option';

interface SettingsOptions {
  intervalMinutes?: number;
  maxContactsPerRun?: number;
  batchSize?: number;
}

/** `crm-sync outbound start|pause|resume|trigger|status|configure`. */
export function registerOutboundCommands(program: Command, io: CliIo): void {
  const outbound = program
    .command('outbound')
    .description('the recurring S-360 -> CRM sync (one workflow per CRM target: outbound-sync:<target>)');

  const withSettings = (command: Command): Command =>
    command
      .option('--interval-minutes <n>', 'minutes between runs, 1..1440', integerOption('--interval-minutes'))
      .option(
        '--max-contacts-per-run <n>',
        'contacts per run, 1..500',
        integerOption('--max-contacts-per-run'),
      )
      .option('--batch-size <n>', 'contacts per CRM push, 1..50', integerOption('--batch-size'));
  const withTarget = (command: Command): Command =>
    command.option('-t, --target <name>', 'CRM target (default: the only or the "default" one)');

  withSettings(withTarget(outbound.command('start')))
    .description('start the outbound sync of a target (settings default to the configuration)')
    .action(async (options: SettingsOptions & { target?: string }, command: Command) => {
      const requested = settingsFrom(options);
      await withClient(command, io, options.target, async (client, config, target) => {
        const settings = { ...config.outbound, ...requested };
        const workflowId = outboundSyncWorkflowId(target);
        let started = true;
        try {
          await client.workflow.start(outboundSync, {
            workflowId,
            taskQueue: config.temporal.taskQueue,
            args: [{ target, settings }],
          });
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          started = false;
        }
        const status = await queryStatus(client, target);
        output(command, io, { started, workflowId, status }, () =>
          [
            started
              ? `Started ${workflowId}.`
              : `${workflowId} is already running; change its settings with \`crm-sync outbound configure\`.`,
            formatStatus(status),
          ].join('\n'),
        );
      });
    });

  const signalCommand = (name: string, description: string, signal: SignalDefinition, done: string) =>
    withTarget(outbound.command(name))
      .description(description)
      .action(async (options: { target?: string }, command: Command) => {
        await withClient(command, io, options.target, async (client, _config, target) => {
          const handle = client.workflow.getHandle(outboundSyncWorkflowId(target));
          await notFoundAsCliError(target, () => handle.signal(signal));
          const status = await queryStatus(client, target);
          output(command, io, status, () => `${done}\n${formatStatus(status)}`);
        });
      });
  signalCommand('pause', 'stop starting runs (a run in progress finishes)', pauseSignal, 'Paused.');
  signalCommand('resume', 'start runs again', resumeSignal, 'Resumed.');
  signalCommand(
    'trigger',
    'run now, whatever the interval (waits for resume when paused)',
    triggerSignal,
    'Triggered.',
  );

  withTarget(outbound.command('status'))
    .description('state, settings, next run time, last run and totals')
    .action(async (options: { target?: string }, command: Command) => {
      await withClient(command, io, options.target, async (client, _config, target) => {
        const status = await queryStatus(client, target);
        output(command, io, status, () => formatStatus(status));
      });
    });

  withSettings(withTarget(outbound.command('configure')))
    .description('change the settings of a running outbound sync')
    .action(async (options: SettingsOptions & { target?: string }, command: Command) => {
      const changes = settingsFrom(options);
      if (Object.keys(changes).length === 0) {
        throw new CliError(
          'nothing to change: give --interval-minutes, --max-contacts-per-run or --batch-size',
          2,
        );
      }
      await withClient(command, io, options.target, async (client, _config, target) => {
        const handle = client.workflow.getHandle(outboundSyncWorkflowId(target));
        try {
          await notFoundAsCliError(target, () => handle.executeUpdate(configureUpdate, { args: [changes] }));
        } catch (err) {
          if (err instanceof WorkflowUpdateFailedError)
            throw new CliError(err.cause?.message ?? err.message, 2);
          throw err;
        }
        const status = await queryStatus(client, target);
        output(command, io, status, () => `Configured.\n${formatStatus(status)}`);
      });
    });
}

/** Options given on the command line, checked against the limits before anything is sent. */
function settingsFrom(options: SettingsOptions): Partial<OutboundSyncSettings> {
  const settings: Partial<OutboundSyncSettings> = {};
  if (options.intervalMinutes !== undefined) settings.intervalMinutes = options.intervalMinutes;
  if (options.maxContactsPerRun !== undefined) settings.maxContactsPerRun = options.maxContactsPerRun;
  if (options.batchSize !== undefined) settings.batchSize = options.batchSize;
  const problems = validateOutboundSettings(settings);
  if (problems.length > 0) throw new CliError(problems.join('; '), 2);
  return settings;
}

/** Resolves the configuration and the target (bad input fails before any connection), then connects. */
async function withClient(
  command: Command,
  io: CliIo,
  requestedTarget: string | undefined,
  work: (client: Client, config: CrmSyncConfig, target: string) => Promise<void>,
): Promise<void> {
  const config = configFor(command, io);
  const target = resolveTarget(config, requestedTarget);
  const client = await connectTemporalClient(config.temporal);
  try {
    await work(client, config, target);
  } finally {
    await client.connection.close();
  }
}

async function notFoundAsCliError<T>(target: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new CliError(
        `no outbound sync is running for target "${target}": start it with \`crm-sync outbound start --target ${target}\``,
      );
    }
    throw err;
  }
}

function queryStatus(client: Client, target: string): Promise<OutboundSyncStatus> {
  return notFoundAsCliError(target, () =>
    client.workflow.getHandle(outboundSyncWorkflowId(target)).query(statusQuery),
  );
}

/** The status as a person reads it. */
export function formatStatus(status: OutboundSyncStatus, now = Date.now()): string {
  const { settings, lastRun, totals } = status;
  const lines = [
    `${outboundSyncWorkflowId(status.target)}: ${status.state}`,
    `  settings: every ${settings.intervalMinutes} min, up to ${settings.maxContactsPerRun} contacts per run, ` +
      `${settings.batchSize} per push`,
    `  next run: ${status.nextRunAt ? `${status.nextRunAt} (${relative(Date.parse(status.nextRunAt) - now)})` : 'none while paused'}`,
  ];
  if (lastRun) {
    const seconds = ((Date.parse(lastRun.finishedAt) - Date.parse(lastRun.startedAt)) / 1000).toFixed(1);
    lines.push(
      `  last run: ${lastRun.startedAt}, ${seconds} s: claimed ${lastRun.claimed}, delivered ${lastRun.delivered}, ` +
        `rejected ${lastRun.rejected}, parked ${lastRun.parked}, duplicates ${lastRun.duplicates}` +
        (lastRun.heldRelays ? `, ${lastRun.heldRelays} relays waiting for their structure` : ''),
    );
  } else {
    lines.push('  last run: none yet');
  }
  lines.push(
    `  totals:   ${totals.runs} run${totals.runs === 1 ? '' : 's'}, claimed ${totals.claimed}, delivered ${totals.delivered}, ` +
      `rejected ${totals.rejected}, parked ${totals.parked}, duplicates ${totals.duplicates}`,
  );
  return lines.join('\n');
}

function relative(ms: number): string {
  if (ms <= 1000) return 'now';
  const minutes = Math.round(ms / 60_000);
  return minutes < 1 ? `in ${Math.round(ms / 1000)} s` : `in ${minutes} min`;
}
