/**
 * Import benchmark: the initial import of N contacts on a real Temporal dev server against the S-360 and CRM
 * sandboxes without rate limits, and, side by side in the same run, a plain script making the same HTTP calls
 * with the same page size, payload size and concurrency, without Temporal and without the sync store.
 *
 *   npm run bench:import [-- --contacts 20000 --memory-contacts 100000]
 *
 * Reports contacts per second of both (from the import's start to its result; from the script's start to its
 * end) and their ratio (goal: at least 0.8), the Temporal actions per 1,000 contacts counted in the histories of
 * every execution of the import (goal: at most 30), and the peak RSS of the worker process while importing
 * `--memory-contacts` (goal: under 300 MB; 0 skips that run). The worker and the plain script each run in a
 * process of their own (import-child.ts); the sandboxes and the dev server run beside them. Writes
 * reports/bench-import.json.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, Runtime, bundleWorkflowCode } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingProcessSettings, type ProcessSettings } from '../src/cli/process-settings';
import type { CrmSyncConfigInput } from '../src/config/config-schema';
import { startCrmSandbox, type CrmSandbox } from '../src/sandbox/crm-sandbox';
import { startS360Sandbox, type S360Sandbox } from '../src/sandbox/s360-sandbox';
import { devServerExecutable } from '../src/temporal-server/locate-binaries';
import { resolveImportSettings, type ImportSettings } from '../src/workflows/initial-import-settings';
import { initialImport, initialImportWorkflowId, type ImportTotals } from '../src/workflows';
import { formatRows, megabytes, number, option, packageRoot, writeReport } from './bench-common';
import type { ImportChildCommand, ImportChildEvent, MemorySample } from './import-child';
import type { PlainImportResult } from './plain-import';

/** The import reaches at least this share of the plain script's contacts per second. */
export const importRatioGoal = 0.8;
/** Temporal actions per 1,000 contacts imported, at most. */
export const actionsPer1000Goal = 30;
/** Peak RSS of the worker while importing 100,000 contacts, under this many MB. */
export const workerPeakRssGoalMb = 300;

const target = 'bench';
const taskQueue = 'bench-import';
const institution = 'BENCH';
const jwtSecret = 'bench-jwt-secret-0123456789';
const signingSecret = 'whsec_YmVuY2gtaW1wb3J0LXNpZ25pbmctc2VjcmV0';
const seed = 7;
/** The service's S-360 budget: the configuration's maximum, as the sandboxes have no limit. */
const budgetPerMinute = 100_000;

export interface ImportRunOptions {
  contacts: number;
  /** Also run the plain script on fresh sandboxes with the same contacts; default true. */
  plain?: boolean;
  /** Import settings; default: the import's defaults. */
  settings?: Partial<ImportSettings>;
  /** Progress lines (to stderr by default). */
  log?: (line: string) => void;
}

/** Temporal actions found in the import's histories (every execution of its continue-as-new chain). */
export interface ImportActions {
  executions: number;
  workflowTasks: number;
  /** Activity attempts (retries included). */
  activities: number;
  timers: number;
  signals: number;
  updates: number;
  total: number;
  per1000Contacts: number;
}

export interface ImportRunReport {
  contacts: number;
  settings: ImportSettings;
  import: {
    seconds: number;
    contactsPerSecond: number;
    totals: ImportTotals;
    actions: ImportActions;
    /** Peak resident set size of the worker process (started on an existing store), start-up included. */
    workerPeakRssMb: number;
    /** CPU time of the worker process (user + system) per contact, start-up included. */
    workerCpuMsPerContact: number;
    /** `process.memoryUsage()` of the worker at the highest RSS sampled (every 250 ms). */
    workerMemoryAtPeakMb: Record<string, number> | null;
    /** Its peak once started, before the import (Linux only; null elsewhere). */
    workerStartedRssMb: number | null;
    /** Peak RSS of the worker's first start on an empty data folder (creating the store), not importing. */
    firstStartPeakRssMb: number;
  };
  plain: null | {
    seconds: number;
    contactsPerSecond: number;
    pushes: number;
    peakRssMb: number;
    /** CPU time of the script's process (user + system) per contact, start-up included. */
    cpuMsPerContact: number;
  };
  /** Import contacts per second / plain contacts per second. */
  ratio: number | null;
}

interface Child {
  pid: number;
  send(command: ImportChildCommand): void;
  next(type: ImportChildEvent['type']): Promise<ImportChildEvent>;
  /** Stops it gracefully; its peak RSS and where the memory was then. */
  stop(): Promise<{ maxRssBytes: number; atPeak: MemorySample | null; cpuSeconds: number }>;
  kill(): void;
}

/** A benchmark process, started with `settings` (node flags before the script, environment variables). */
function startChild(settings: ProcessSettings = { nodeFlags: [], env: {} }): Child {
  const child = spawn(process.execPath, [...settings.nodeFlags, join(__dirname, 'import-child.js')], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...settings.env },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const next = (type: ImportChildEvent['type']): Promise<ImportChildEvent> =>
    new Promise((resolve, reject) => {
      const onMessage = (event: ImportChildEvent): void => {
        if (event.type === 'failed') {
          done();
          reject(new Error(`benchmark process ${child.pid} failed: ${event.message}`));
        } else if (event.type === type) {
          done();
          resolve(event);
        }
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        done();
        reject(new Error(`benchmark process ${child.pid} exited (${signal ?? code}) before "${type}"`));
      };
      const done = (): void => {
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  return {
    pid: child.pid as number,
    send: (command) => void child.send(command),
    next,
    async stop() {
      const stopped = next('stopped');
      child.send({ type: 'stop' } satisfies ImportChildCommand);
      const event = await stopped;
      await exited;
      return event.type === 'stopped' ? event : { maxRssBytes: 0, atPeak: null, cpuSeconds: 0 };
    },
    kill: () => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')),
  };
}

/** VmHWM of a process (its peak RSS so far), Linux only. */
function peakRssOf(pid: number): number | null {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

async function startSandboxes(contacts: number): Promise<{ s360: S360Sandbox; crm: CrmSandbox }> {
  const s360 = await startS360Sandbox({ port: 0, jwtSecret, institution, callsPerMinute: 0 });
  const crm = await startCrmSandbox({ port: 0, signingSecret });
  const response = await fetch(`${s360.url}/__sandbox/contacts/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ count: contacts, seed, notify: false }),
  });
  if (!response.ok) throw new Error(`generating contacts: ${response.status} ${await response.text()}`);
  return { s360, crm };
}

async function crmRecordCount(crm: CrmSandbox): Promise<number> {
  const stats = (await (await fetch(`${crm.url}/__sandbox/stats`)).json()) as { records: number };
  return stats.records;
}

async function countActions(
  env: TestWorkflowEnvironment,
  workflowId: string,
  firstRunId: string,
  contacts: number,
): Promise<ImportActions> {
  const actions = { executions: 0, workflowTasks: 0, activities: 0, timers: 0, signals: 0, updates: 0 };
  let runId: string | undefined = firstRunId;
  while (runId) {
    const history: Awaited<ReturnType<WorkflowHandle['fetchHistory']>> = await env.client.workflow
      .getHandle(workflowId, runId)
      .fetchHistory();
    const events = history.events ?? [];
    actions.executions += 1;
    for (const event of events) {
      if (event.workflowTaskScheduledEventAttributes) actions.workflowTasks += 1;
      if (event.activityTaskStartedEventAttributes) {
        actions.activities += event.activityTaskStartedEventAttributes.attempt ?? 1;
      }
      if (event.timerStartedEventAttributes) actions.timers += 1;
      if (event.workflowExecutionSignaledEventAttributes) actions.signals += 1;
      if (event.workflowExecutionUpdateAcceptedEventAttributes) actions.updates += 1;
    }
    runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  const total =
    actions.executions +
    actions.workflowTasks +
    actions.activities +
    actions.timers +
    actions.signals +
    actions.updates;
  return { ...actions, total, per1000Contacts: Math.round((total * 10_000) / contacts) / 10 };
}

const inMegabytes = (sample: MemorySample | null): Record<string, number> | null =>
  sample && Object.fromEntries(Object.entries(sample).map(([key, bytes]) => [key, megabytes(bytes)]));

const round = (value: number, digits = 1): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** One import run (and, unless `plain: false`, the plain script on the same contacts). */
export async function measureImportThroughput(options: ImportRunOptions): Promise<ImportRunReport> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const settings = resolveImportSettings(options.settings);
  const contacts = options.contacts;
  const mappingFile = join(packageRoot(), 'mappings', 'default.yaml');
  const folder = mkdtempSync(join(tmpdir(), 'crm-sync-bench-import-'));
  const children: Child[] = [];
  const sandboxes: Array<{ close(): Promise<void> }> = [];
  let env: TestWorkflowEnvironment | undefined;
  try {
    log(`import benchmark: ${number(contacts)} contacts, starting the dev server and the sandboxes`);
    const [bundle, started] = await Promise.all([
      bundleWorkflowCode({
        workflowsPath: require.resolve('../src/workflows'),
        logger: new DefaultLogger('WARN'),
      }),
      TestWorkflowEnvironment.createLocal({ server: { executable: devServerExecutable(), ip: '127.0.0.1' } }),
    ]);
    env = started;
    const workflowBundlePath = join(folder, 'workflow-bundle.js');
    writeFileSync(workflowBundlePath, bundle.code);

    // The plain script first (the sandboxes' process has warmed up a little by the time the import runs, so the
    // order favours the plain script if anything), each on fresh sandboxes holding the same contacts.
    let plain: ImportRunReport['plain'] = null;
    if (options.plain ?? true) {
      const fresh = await startSandboxes(contacts);
      sandboxes.push(fresh.s360, fresh.crm);
      const script = startChild();
      children.push(script);
      log('import benchmark: the plain script, importing');
      const scriptStarted = performance.now();
      const done = script.next('plain-done');
      script.send({
        type: 'plain',
        options: {
          s360: {
            baseUrl: fresh.s360.url,
            institution,
            operator: 'crm-sync',
            partner: 'crm-sync',
            jwtSecret,
            callsPerMinute: budgetPerMinute,
          },
          crm: { url: `${fresh.crm.url}/hooks/contacts`, signingSecret },
          mappingFile,
          ...settings,
        },
      });
      const event = await done;
      const scriptSeconds = (performance.now() - scriptStarted) / 1000;
      const scriptResult = (event as { result: PlainImportResult }).result;
      const scriptStopped = await script.stop();
      const pushedByScript = await crmRecordCount(fresh.crm);
      if (scriptResult.contacts !== contacts || pushedByScript !== contacts) {
        throw new Error(
          `the plain script listed ${scriptResult.contacts} and the CRM holds ${pushedByScript}`,
        );
      }
      await Promise.all(sandboxes.splice(0).map((sandbox) => sandbox.close()));
      plain = {
        seconds: round(scriptSeconds, 2),
        contactsPerSecond: round(contacts / scriptSeconds),
        pushes: scriptResult.pushes,
        peakRssMb: megabytes(scriptStopped.maxRssBytes),
        cpuMsPerContact: round((scriptStopped.cpuSeconds * 1000) / contacts, 2),
      };
      log(`import benchmark: plain script done in ${scriptSeconds.toFixed(1)} s`);
    }

    // The import, through the crm-sync worker.
    const { s360, crm } = await startSandboxes(contacts);
    sandboxes.push(s360, crm);
    const config: CrmSyncConfigInput = {
      dataDir: join(folder, 'data'),
      temporal: { address: env.address, namespace: env.namespace ?? 'default', taskQueue },
      s360: { baseUrl: s360.url, institution, jwtSecret, callsPerMinute: budgetPerMinute },
      crm: { targets: [{ name: target, kind: 'webhook', url: `${crm.url}/hooks/contacts`, signingSecret }] },
      receiver: { port: 0 },
      mapping: { file: mappingFile },
    };
    // The worker process runs with the node flags and environment that `crm-sync worker` starts with
    // (bin/crm-sync.js), those that NODE_OPTIONS or the environment set included.
    const startWorker = async (): Promise<Child> => {
      const child = startChild(missingProcessSettings(['worker'], [], process.env) ?? undefined);
      children.push(child);
      const ready = child.next('ready');
      child.send({ type: 'worker', config, workflowBundlePath });
      await ready;
      return child;
    };
    // A first start creates the embedded store (PGlite's initdb), which costs far more memory than running it, and
    // only once: the worker measured starts on the store created, as a deployed worker does.
    const firstStartPeakRss = (await (await startWorker()).stop()).maxRssBytes;
    const worker = await startWorker();
    const workerStartedRss = peakRssOf(worker.pid);
    log(`import benchmark: worker ready (pid ${worker.pid}), importing`);
    const importStarted = performance.now();
    const handle = await env.client.workflow.start(initialImport, {
      workflowId: initialImportWorkflowId(target),
      taskQueue,
      args: [{ target, settings }],
    });
    const result = await handle.result();
    const importSeconds = (performance.now() - importStarted) / 1000;
    const workerMemory = await worker.stop();
    const imported = await crmRecordCount(crm);
    if (result.done !== contacts || imported !== contacts) {
      throw new Error(
        `the import handled ${result.done} contacts and the CRM holds ${imported}, not ${contacts}`,
      );
    }
    const actions = await countActions(env, handle.workflowId, handle.firstExecutionRunId, contacts);
    log(`import benchmark: import done in ${importSeconds.toFixed(1)} s`);

    const contactsPerSecond = round(contacts / importSeconds);
    return {
      contacts,
      settings,
      import: {
        seconds: round(importSeconds, 2),
        contactsPerSecond,
        totals: result.totals,
        actions,
        workerPeakRssMb: megabytes(workerMemory.maxRssBytes),
        workerCpuMsPerContact: round((workerMemory.cpuSeconds * 1000) / contacts, 2),
        workerMemoryAtPeakMb: inMegabytes(workerMemory.atPeak),
        workerStartedRssMb: workerStartedRss === null ? null : megabytes(workerStartedRss),
        firstStartPeakRssMb: megabytes(firstStartPeakRss),
      },
      plain,
      ratio: plain ? round(contactsPerSecond / plain.contactsPerSecond, 2) : null,
    };
  } finally {
    for (const child of children) child.kill();
    await Promise.all(sandboxes.map((sandbox) => sandbox.close().catch(() => undefined)));
    await env?.teardown().catch(() => undefined);
    rmSync(folder, { recursive: true, force: true });
  }
}

export interface ImportBenchmarks {
  /** Throughput, the plain script and actions. */
  throughput: ImportRunReport;
  /** The peak memory run (null when skipped). */
  memory: ImportRunReport | null;
}

/** The throughput run, then the memory run (100,000 contacts by default; 0 skips it). */
export async function runImportBenchmarks(
  options: { contacts?: number; memoryContacts?: number; log?: (line: string) => void } = {},
): Promise<ImportBenchmarks> {
  const throughput = await measureImportThroughput({
    contacts: options.contacts ?? 20_000,
    ...(options.log ? { log: options.log } : {}),
  });
  const memoryContacts = options.memoryContacts ?? 100_000;
  const memory =
    memoryContacts > 0
      ? await measureImportThroughput({
          contacts: memoryContacts,
          plain: false,
          ...(options.log ? { log: options.log } : {}),
        })
      : null;
  return { throughput, memory };
}

/** Figure, value, goal and whether it is met, for the summary table. */
export interface BenchFigure {
  figure: string;
  value: string;
  goal: string;
  met: boolean | null;
}

export function importFigures({ throughput, memory }: ImportBenchmarks): BenchFigure[] {
  const figures: BenchFigure[] = [
    {
      figure: `import, contacts/s (${number(throughput.contacts)} contacts)`,
      value: number(throughput.import.contactsPerSecond),
      goal: '',
      met: null,
    },
  ];
  if (throughput.plain && throughput.ratio !== null) {
    figures.push(
      {
        figure: 'plain script, contacts/s (same calls, no Temporal)',
        value: number(throughput.plain.contactsPerSecond),
        goal: '',
        met: null,
      },
      {
        figure: 'CPU ms per contact, worker / plain script',
        value: `${throughput.import.workerCpuMsPerContact.toFixed(2)} / ${throughput.plain.cpuMsPerContact.toFixed(2)}`,
        goal: '',
        met: null,
      },
      {
        figure: 'import / plain script',
        value: throughput.ratio.toFixed(2),
        goal: `>= ${importRatioGoal}`,
        met: throughput.ratio >= importRatioGoal,
      },
    );
  }
  figures.push({
    figure: 'Temporal actions per 1,000 contacts',
    value: throughput.import.actions.per1000Contacts.toFixed(1),
    goal: `<= ${actionsPer1000Goal}`,
    met: throughput.import.actions.per1000Contacts <= actionsPer1000Goal,
  });
  if (memory) {
    figures.push(
      {
        figure: `worker peak RSS, MB (${number(memory.contacts)} contacts)`,
        value: memory.import.workerPeakRssMb.toFixed(1),
        goal: `< ${workerPeakRssGoalMb}`,
        met: memory.import.workerPeakRssMb < workerPeakRssGoalMb,
      },
      {
        figure: 'worker peak RSS at its first start (creating the store), MB',
        value: memory.import.firstStartPeakRssMb.toFixed(1),
        goal: '',
        met: null,
      },
      {
        figure: `import, contacts/s (${number(memory.contacts)} contacts)`,
        value: number(memory.import.contactsPerSecond),
        goal: '',
        met: null,
      },
    );
  }
  return figures;
}

/** The summary table: figure, value, goal, pass/fail. */
export function formatFigures(title: string, figures: readonly BenchFigure[]): string {
  const header: BenchFigure = { figure: 'figure', value: 'value', goal: 'goal', met: null };
  const rows = [header, ...figures];
  const width = (key: 'figure' | 'value' | 'goal'): number => Math.max(...rows.map((row) => row[key].length));
  const line = (row: BenchFigure, verdict: string): string =>
    `  ${row.figure.padEnd(width('figure'))}  ${row.value.padStart(width('value'))}  ${row.goal.padEnd(width('goal'))}  ${verdict}`.trimEnd();
  return [
    title,
    line(header, 'result'),
    ...figures.map((row) => line(row, row.met === null ? '' : row.met ? 'pass' : 'FAIL')),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const benchmarks = await runImportBenchmarks({
    contacts: option('contacts', 20_000),
    memoryContacts: option('memory-contacts', 100_000, 0),
  });
  const { settings, import: run } = benchmarks.throughput;
  process.stdout.write(
    formatFigures(
      `Initial import (pages of ${settings.pageSize}, payloads of ${settings.payloadSize}, ${settings.concurrency} lanes; Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'})`,
      importFigures(benchmarks),
    ),
  );
  process.stdout.write(
    formatRows('Actions of the import', [
      ['executions (start, continue-as-new)', number(run.actions.executions)],
      ['workflow tasks', number(run.actions.workflowTasks)],
      ['activity attempts', number(run.actions.activities)],
      ['timers, signals, updates', `${run.actions.timers}, ${run.actions.signals}, ${run.actions.updates}`],
    ]),
  );
  const file = writeReport('bench-import.json', {
    benchmark: 'import-throughput',
    ...benchmarks,
    goals: { importRatioGoal, actionsPer1000Goal, workerPeakRssGoalMb },
    node: process.version,
    cpus: cpus().length,
    measuredAt: new Date().toISOString(),
  });
  process.stdout.write(`Written to ${file}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  });
}
