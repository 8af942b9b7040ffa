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
  inboundSync,
  inboundSyncWorkflowId,
  outboundSync,
  outboundSyncWorkflowId,
  pauseSignal,
  resumeSignal,
  triggerSignal,
  validateOutboundSettings,
  type OutboundSyncSettings,
} from '../../workflows';
import { syncStatusQuery, type SyncStatus } from '../../workflows/sync-loop';
import { CliError, configFor, integerOption, output, type CliIo } from '../cli-context';
import { resolveTarget } from '../target-option';

interface SettingsOptions {
  intervalMinutes?: number;
  maxContactsPerRun?: number;
  batchSize?: number;
}

type AnySyncStatus = SyncStatus<object, { runs: number }>;

/** What differs between the outbound and the inbound sync commands. */
interface SyncDirectionSpec {
  name: 'outbound' | 'inbound';
  description: string;
  workflow: typeof outboundSync | typeof inboundSync;
  workflowId(target: string): string;
  /** The settings a start uses unless options override them. */
  configured(config: CrmSyncConfig): OutboundSyncSettings;
}

const directions: readonly SyncDirectionSpec[] = [
  {
    name: 'outbound',
    description: 'the recurring S-360 -> CRM sync (one workflow per CRM target: outbound-sync:<target>)',
    workflow: outboundSync,
    workflowId: outboundSyncWorkflowId,
    configured: (config) => config.outbound,
  },
  {
    name: 'inbound',
    description: 'the recurring CRM -> S-360 sync (one workflow per CRM target: inbound-sync:<target>)',
    workflow: inboundSync,
    workflowId: inboundSyncWorkflowId,
    configured: (config) => config.inbound,
  },
];

/** `crm-sync outbound|inbound start|pause|resume|trigger|status|configure`. */
export function registerSyncCommands(program: Command, io: CliIo): void {
  for (const direction of directions) registerDirection(program, io, direction);
}

function registerDirection(program: Command, io: CliIo, direction: SyncDirectionSpec): void {
  const outbound = program.command(direction.name).description(direction.description);
  const workflowIdOf = direction.workflowId;
  const queryStatus = (client: Client, target: string): Promise<AnySyncStatus> =>
    notFoundAsCliError(direction, target, () =>
      client.workflow.getHandle(workflowIdOf(target)).query(syncStatusQuery),
    );
  const formatStatus = (status: AnySyncStatus): string =>
    formatSyncStatus(workflowIdOf(status.target), status);

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
    .description(`start the ${direction.name} sync of a target (settings default to the configuration)`)
    .action(async (options: SettingsOptions & { target?: string }, command: Command) => {
      const requested = settingsFrom(options);
      await withClient(command, io, options.target, async (client, config, target) => {
        const settings = { ...direction.configured(config), ...requested };
        const workflowId = workflowIdOf(target);
        let started = true;
        try {
          await client.workflow.start(direction.workflow, {
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
              : `${workflowId} is already running; change its settings with \`crm-sync ${direction.name} configure\`.`,
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
          const handle = client.workflow.getHandle(workflowIdOf(target));
          await notFoundAsCliError(direction, target, () => handle.signal(signal));
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
    .description(`change the settings of a running ${direction.name} sync`)
    .action(async (options: SettingsOptions & { target?: string }, command: Command) => {
      const changes = settingsFrom(options);
      if (Object.keys(changes).length === 0) {
        throw new CliError(
          'nothing to change: give --interval-minutes, --max-contacts-per-run or --batch-size',
          2,
        );
      }
      await withClient(command, io, options.target, async (client, _config, target) => {
        const handle = client.workflow.getHandle(workflowIdOf(target));
        try {
          await notFoundAsCliError(direction, target, () =>
            handle.executeUpdate(configureUpdate, { args: [changes] }),
          );
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
export async function withClient(
  command: Command,
  io: CliIo,
  requestedTarget: string | undefined,
  work: (client: Client, config: CrmSyncConfig, target: string) => Promise<void>,
): Promise<void> {
  const config = configFor(command, io);
  const target = resolveTarget(config, requestedTarget);
  await withTemporalClient(config, (client) => work(client, config, target));
}

/** Connects to Temporal as configured, runs `work`, and closes the connection, whatever happens. */
export async function withTemporalClient(
  config: CrmSyncConfig,
  work: (client: Client) => Promise<void>,
): Promise<void> {
  const client = await connectTemporalClient(config.temporal);
  try {
    await work(client);
  } finally {
    await client.connection.close();
  }
}

function notFoundAsCliError<T>(
  direction: SyncDirectionSpec,
  target: string,
  call: () => Promise<T>,
): Promise<T> {
  return unlessWorkflowMissing(
    `no ${direction.name} sync is running for target "${target}": start it with ` +
      `\`crm-sync ${direction.name} start --target ${target}\``,
    call,
  );
}

/** Runs a call on a workflow; if the workflow does not exist, fails with `message` (saying what to start). */
export async function unlessWorkflowMissing<T>(message: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new CliError(message);
    throw err;
  }
}

/** Counts not worth a word when they are zero or absent. */
const quietCounts = new Set(['batches', 'heldRelays', 'echoes', 'unchanged', 'deleted', 'duplicates']);

function formatCounts(counts: object): string {
  return Object.entries(counts)
    .filter(
      ([name, value]) =>
        typeof value === 'number' && name !== 'runs' && !(quietCounts.has(name) && value === 0),
    )
    .filter(([name]) => name !== 'batches')
    .map(
      ([name, value]) =>
        `${name === 'heldRelays' ? 'relays waiting for their structure' : name} ${String(value)}`,
    )
    .join(', ');
}

/** The status as a person reads it. */
export function formatSyncStatus(workflowId: string, status: AnySyncStatus, now = Date.now()): string {
  const { settings, lastRun, totals } = status;
  const lines = [
    `${workflowId}: ${status.state}`,
    `  settings: every ${settings.intervalMinutes} min, up to ${settings.maxContactsPerRun} contacts per run, ` +
      `${settings.batchSize} per batch`,
    `  next run: ${status.nextRunAt ? `${status.nextRunAt} (${relative(Date.parse(status.nextRunAt) - now)})` : 'none while paused'}`,
  ];
  if (status.pausedReason) {
    lines.push(`  paused by crm-sync: ${status.pausedReason}`, '  fix the configuration, then resume');
  }
  if (lastRun) {
    const seconds = ((Date.parse(lastRun.finishedAt) - Date.parse(lastRun.startedAt)) / 1000).toFixed(1);
    lines.push(`  last run: ${lastRun.startedAt}, ${seconds} s: ${formatCounts(lastRun)}`);
  } else {
    lines.push('  last run: none yet');
  }
  lines.push(`  totals:   ${totals.runs} run${totals.runs === 1 ? '' : 's'}, ${formatCounts(totals)}`);
  return lines.join('\n');
}

function relative(ms: number): string {
  if (ms <= 1000) return 'now';
  const minutes = Math.round(ms / 60_000);
  return minutes < 1 ? `in ${Math.round(ms / 1000)} s` : `in ${minutes} min`;
}
