/**
 * Import benchmark: the initial import of N contacts on a real Temporal dev server against the S-360 and CRM
 * sandboxes without rate limits, and, side by side in the same run, a plain script making the same HTTP calls
 * with the same page size, payload size and concurrency, without Temporal and without the sync store.
 *
 *   npm run bench:import [-- --contacts 20000 --rounds 3 --store both --memory-contacts 100000]
 *
 * Each round runs the plain script, then the import with the worker's sync store embedded (PGlite, in the worker's
 * process), then on a PostgreSQL server (started here with its durable defaults; `--store` chooses one). Reports
 * contacts per second of each (from the import's start to its result; from the script's start to its end), the
 * median over the rounds of each round's ratio (goal: at least 0.8), CPU time per contact of the worker and of
 * the whole machine, the Temporal actions per 1,000 contacts counted in the histories of every execution of the
 * import (goal: at most 30), and the peak RSS of the worker process while importing `--memory-contacts` on each
 * store (goal: under 300 MB; 0 skips those runs). The worker, the plain script and each run's sandboxes run in
 * processes of their own (import-child.ts), the dev server beside them. Writes reports/bench-import.json. */
import type { WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, Runtime, bundleWorkflowCode } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingProcessSettings, type ProcessSettings } from '../src/cli/process-settings';
import type { CrmSyncConfigInput } from '../src/config/config-schema';
import { devServerExecutable } from '../src/temporal-server/locate-binaries';
import { resolveImportSettings, type ImportSettings } from '../src/workflows/initial-import-settings';
import { initialImport, initialImportWorkflowId, type ImportTotals } from '../src/workflows';
import {
  choiceOption,
  cpuMsByProcessName,
  cpuMsOfProcess,
  cpuMsSpent,
  formatRows,
  megabytes,
  number,
  option,
  packageRoot,
  runMain,
  writeReport,
} from './bench-common';
import { startPostgresServer, type PostgresServer } from '../test/helpers/postgres-server';
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

/** Where the worker under measure keeps its sync store. */
export type BenchStore = 'embedded' | 'postgres';
export const benchStores: readonly BenchStore[] = ['embedded', 'postgres'];

export interface ImportRunOptions {
  contacts: number;
  /**
   * Rounds of the plain script then the import on each store, one after the other, so that the machine's other
   * load weighs on all of them alike; the report gives each round and the medians. Default 1.
   */
  rounds?: number;
  /** The stores the import runs on, in this order; default both. */
  stores?: readonly BenchStore[];
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

/** One import by the crm-sync worker. */
export interface StoreImportRun extends RunCpu {
  seconds: number;
  contactsPerSecond: number;
  totals: ImportTotals;
  actions: ImportActions;
  /** Peak resident set size of the worker process (started on an existing store), start-up included. */
  workerPeakRssMb: number;
  /** CPU time of the worker process (user + system, all its threads) per contact, start-up included. */
  workerCpuMsPerContact: number;
  /** `process.memoryUsage()` of the worker at the highest RSS sampled (every 250 ms). */
  workerMemoryAtPeakMb: Record<string, number> | null;
  /** Its peak once started, before the import (Linux only; null elsewhere). */
  workerStartedRssMb: number | null;
  /** Peak RSS of the worker's first start on an empty store (creating it), not importing. */
  firstStartPeakRssMb: number;
}

/** One run of the plain script. */
export interface PlainImportRun extends RunCpu {
  seconds: number;
  contactsPerSecond: number;
  pushes: number;
  peakRssMb: number;
  /** CPU time of the script's process (user + system) per contact, start-up included. */
  cpuMsPerContact: number;
}

/** The calls the sandboxes answered during a run: the same for the plain script and the import, or a run is off. */
export interface SandboxCalls {
  s360: number;
  crmPushes: number;
}

/** CPU ms per contact of the processes besides the one measured (Temporal and PostgreSQL: Linux only, else 0). */
export interface OthersCpu {
  sandboxes: number;
  temporal: number;
  postgres: number;
}

/** CPU per contact over one run, of the whole machine and of the other processes at work. */
export interface RunCpu {
  /** What the sandboxes answered over the run. */
  calls: SandboxCalls;
  /** CPU time of the whole machine (every process: sandboxes, Temporal, PostgreSQL, worker) per contact. */
  machineCpuMsPerContact: number | null;
  /** CPU time per contact of the other processes at work: the sandboxes, the Temporal dev server, PostgreSQL. */
  othersCpuMsPerContact: OthersCpu;
}

/** Starts measuring {@link RunCpu} of a run on `sandboxes`; the function returned ends the measure. */
function startCpuMeasure(contacts: number, sandboxes: BenchSandboxes): () => Promise<RunCpu> {
  const machineBefore = machineCpuMs();
  const sandboxesBefore = cpuMsOfProcess(sandboxes.pid) ?? 0;
  const before = cpuMsByProcessName();
  return async () => {
    const calls = await sandboxCalls(sandboxes);
    const machineAfter = machineCpuMs();
    const sandboxesMs = (cpuMsOfProcess(sandboxes.pid) ?? 0) - sandboxesBefore;
    const after = cpuMsByProcessName();
    return {
      calls,
      machineCpuMsPerContact:
        machineBefore === null || machineAfter === null
          ? null
          : round((machineAfter - machineBefore) / contacts, 2),
      othersCpuMsPerContact: {
        sandboxes: round(sandboxesMs / contacts, 2),
        temporal: round(cpuMsSpent(before, after, 'temporal') / contacts, 2),
        postgres: round(cpuMsSpent(before, after, 'postgres') / contacts, 2),
      },
    };
  };
}

/** The imports on one store: each round's, and the median figures over the rounds. */
export interface StoreImportReport {
  store: BenchStore;
  median: Pick<
    StoreImportRun,
    'contactsPerSecond' | 'workerCpuMsPerContact' | 'machineCpuMsPerContact' | 'workerPeakRssMb'
  >;
  /** Median over the rounds of each round's import / plain script (null without the plain script). */
  ratio: number | null;
  runs: StoreImportRun[];
}

export interface ImportRunReport {
  contacts: number;
  settings: ImportSettings;
  rounds: number;
  imports: StoreImportReport[];
  plain: null | {
    median: Pick<PlainImportRun, 'contactsPerSecond' | 'cpuMsPerContact' | 'machineCpuMsPerContact'>;
    runs: PlainImportRun[];
  };
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

/** The S-360 and CRM sandboxes of one run, in a process of their own (import-child.ts). */
interface BenchSandboxes {
  s360Url: string;
  crmUrl: string;
  pid: number;
  stop(): Promise<unknown>;
}

/**
 * Fresh sandboxes holding the run's contacts, in a new process: every run, the plain script's and each import's,
 * meets sandboxes in the same state (a process that served earlier runs spent more CPU per call on its grown heap).
 */
async function startSandboxes(context: BenchContext): Promise<BenchSandboxes> {
  const child = startChild();
  context.children.push(child);
  const ready = child.next('sandboxes-ready');
  child.send({
    type: 'sandboxes',
    options: { contacts: context.contacts, seed, institution, jwtSecret, signingSecret },
  });
  const event = (await ready) as Extract<ImportChildEvent, { type: 'sandboxes-ready' }>;
  return { s360Url: event.s360Url, crmUrl: event.crmUrl, pid: child.pid, stop: () => child.stop() };
}

async function crmRecordCount(sandboxes: BenchSandboxes): Promise<number> {
  const stats = (await (await fetch(`${sandboxes.crmUrl}/__sandbox/stats`)).json()) as { records: number };
  return stats.records;
}

async function sandboxCalls(sandboxes: BenchSandboxes): Promise<SandboxCalls> {
  const [s360, crm] = await Promise.all([
    fetch(`${sandboxes.s360Url}/__sandbox/stats`).then(
      (response) => response.json() as Promise<{ calls: number }>,
    ),
    fetch(`${sandboxes.crmUrl}/__sandbox/stats`).then(
      (response) => response.json() as Promise<{ pushes: number }>,
    ),
  ]);
  return { s360: s360.calls, crmPushes: crm.pushes };
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

/** The median of some numbers (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** CPU time spent by the whole machine so far, in ms (Linux: /proc/stat: processes, kernel and interrupts). */
function machineCpuMs(): number | null {
  try {
    const fields =
      readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    // user nice system idle iowait irq softirq, in clock ticks: everything but idle (3) and iowait (4). Not steal
    // (time a hypervisor gave to other machines): that is not this machine's work.
    const busy = fields
      .slice(0, 7)
      .reduce((sum, ticks, index) => (index === 3 || index === 4 ? sum : sum + ticks), 0);
    return (busy * 1000) / 100;
  } catch {
    return null;
  }
}

/** What the runs of one measurement share: the dev server, the workflow bundle, PostgreSQL when asked for. */
interface BenchContext {
  env: TestWorkflowEnvironment;
  workflowBundlePath: string;
  folder: string;
  postgres: PostgresServer | undefined;
  contacts: number;
  settings: ImportSettings;
  mappingFile: string;
  log: (line: string) => void;
  children: Child[];
  imports: number;
}

/** The plain script on fresh sandboxes. */
async function runPlainScript(context: BenchContext): Promise<PlainImportRun> {
  const { contacts, settings, log } = context;
  const fresh = await startSandboxes(context);
  const script = startChild();
  context.children.push(script);
  log('import benchmark: the plain script, importing');
  const cpu = startCpuMeasure(contacts, fresh);
  const scriptStarted = performance.now();
  const done = script.next('plain-done');
  script.send({
    type: 'plain',
    options: {
      s360: {
        baseUrl: fresh.s360Url,
        institution,
        operator: 'crm-sync',
        partner: 'crm-sync',
        jwtSecret,
        callsPerMinute: budgetPerMinute,
      },
      crm: { url: `${fresh.crmUrl}/hooks/contacts`, signingSecret },
      mappingFile: context.mappingFile,
      ...settings,
    },
  });
  const event = await done;
  const scriptSeconds = (performance.now() - scriptStarted) / 1000;
  const cpuSpent = await cpu();
  const scriptResult = (event as { result: PlainImportResult }).result;
  const scriptStopped = await script.stop();
  const pushedByScript = await crmRecordCount(fresh);
  if (scriptResult.contacts !== contacts || pushedByScript !== contacts) {
    throw new Error(`the plain script listed ${scriptResult.contacts} and the CRM holds ${pushedByScript}`);
  }
  await fresh.stop();
  log(`import benchmark: plain script done in ${scriptSeconds.toFixed(1)} s`);
  return {
    seconds: round(scriptSeconds, 2),
    contactsPerSecond: round(contacts / scriptSeconds),
    pushes: scriptResult.pushes,
    peakRssMb: megabytes(scriptStopped.maxRssBytes),
    cpuMsPerContact: round((scriptStopped.cpuSeconds * 1000) / contacts, 2),
    ...cpuSpent,
  };
}

/** The import through a crm-sync worker of its own, on fresh sandboxes and an empty store. */
async function runImport(context: BenchContext, store: BenchStore): Promise<StoreImportRun> {
  const { env, contacts, settings, log } = context;
  const sandboxes = await startSandboxes(context);
  context.imports += 1;
  const storeConfig =
    store === 'postgres'
      ? {
          url: await (context.postgres as PostgresServer).createDatabase(`bench_${context.imports}`),
          poolSize: 10,
        }
      : { kind: 'embedded' as const };
  const config: CrmSyncConfigInput = {
    dataDir: join(context.folder, `data-${context.imports}`),
    temporal: { address: env.address, namespace: env.namespace ?? 'default', taskQueue },
    s360: { baseUrl: sandboxes.s360Url, institution, jwtSecret, callsPerMinute: budgetPerMinute },
    crm: {
      targets: [{ name: target, kind: 'webhook', url: `${sandboxes.crmUrl}/hooks/contacts`, signingSecret }],
    },
    receiver: { port: 0 },
    mapping: { file: context.mappingFile },
    store: storeConfig,
  };
  // The worker process runs with the node flags and environment that `crm-sync worker` starts with on this store
  // (bin/crm-sync.js), those that NODE_OPTIONS or the environment set included.
  const startWorker = async (): Promise<Child> => {
    const child = startChild(missingProcessSettings(['worker'], [], process.env, store) ?? undefined);
    context.children.push(child);
    const ready = child.next('ready');
    child.send({ type: 'worker', config, workflowBundlePath: context.workflowBundlePath });
    await ready;
    return child;
  };
  // A first start creates the store (for the embedded one, PGlite's initdb, which costs far more memory than
  // running it), and only once: the worker measured starts on the store created, as a deployed worker does.
  const firstStartPeakRss = (await (await startWorker()).stop()).maxRssBytes;
  const worker = await startWorker();
  const workerStartedRss = peakRssOf(worker.pid);
  log(`import benchmark: worker ready (pid ${worker.pid}, ${store} store), importing`);
  const cpu = startCpuMeasure(contacts, sandboxes);
  const importStarted = performance.now();
  const handle = await env.client.workflow.start(initialImport, {
    workflowId: initialImportWorkflowId(target),
    taskQueue,
    args: [{ target, settings }],
  });
  const result = await handle.result();
  const importSeconds = (performance.now() - importStarted) / 1000;
  const cpuSpent = await cpu();
  const workerMemory = await worker.stop();
  const imported = await crmRecordCount(sandboxes);
  if (result.done !== contacts || imported !== contacts) {
    throw new Error(
      `the import handled ${result.done} contacts and the CRM holds ${imported}, not ${contacts}`,
    );
  }
  const actions = await countActions(env, handle.workflowId, handle.firstExecutionRunId, contacts);
  await sandboxes.stop();
  log(`import benchmark: import on the ${store} store done in ${importSeconds.toFixed(1)} s`);
  return {
    seconds: round(importSeconds, 2),
    contactsPerSecond: round(contacts / importSeconds),
    totals: result.totals,
    actions,
    workerPeakRssMb: megabytes(workerMemory.maxRssBytes),
    workerCpuMsPerContact: round((workerMemory.cpuSeconds * 1000) / contacts, 2),
    ...cpuSpent,
    workerMemoryAtPeakMb: inMegabytes(workerMemory.atPeak),
    workerStartedRssMb: workerStartedRss === null ? null : megabytes(workerStartedRss),
    firstStartPeakRssMb: megabytes(firstStartPeakRss),
  };
}

const medianOf = <T>(runs: readonly T[], pick: (run: T) => number | null): number | null => {
  const values = runs.map(pick).filter((value): value is number => value !== null);
  return values.length === 0 ? null : round(median(values), 2);
};

/**
 * Rounds of the plain script and of the import on each store (by default one round, both stores), each on fresh
 * sandboxes holding the same contacts, each run's sandboxes in a new process.
 */
export async function measureImportThroughput(options: ImportRunOptions): Promise<ImportRunReport> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const settings = resolveImportSettings(options.settings);
  const contacts = options.contacts;
  const rounds = options.rounds ?? 1;
  const stores = options.stores ?? benchStores;
  const folder = mkdtempSync(join(tmpdir(), 'crm-sync-bench-import-'));
  let env: TestWorkflowEnvironment | undefined;
  let postgres: PostgresServer | undefined;
  const children: Child[] = [];
  try {
    log(`import benchmark: ${number(contacts)} contacts, starting the dev server and the sandboxes`);
    const [bundle, started, server] = await Promise.all([
      bundleWorkflowCode({
        workflowsPath: require.resolve('../src/workflows'),
        logger: new DefaultLogger('WARN'),
      }),
      TestWorkflowEnvironment.createLocal({ server: { executable: devServerExecutable(), ip: '127.0.0.1' } }),
      // PostgreSQL with its durable defaults (fsync, synchronous commits): what a deployment pays.
      stores.includes('postgres') ? startPostgresServer({ durable: true }) : Promise.resolve(undefined),
    ]);
    env = started;
    postgres = server;
    const workflowBundlePath = join(folder, 'workflow-bundle.js');
    writeFileSync(workflowBundlePath, bundle.code);
    const context: BenchContext = {
      env,
      workflowBundlePath,
      folder,
      postgres,
      contacts,
      settings,
      mappingFile: join(packageRoot(), 'mappings', 'default.yaml'),
      log,
      children,
      imports: 0,
    };

    const plainRuns: PlainImportRun[] = [];
    const storeRuns = new Map<BenchStore, StoreImportRun[]>(stores.map((store) => [store, []]));
    for (let index = 0; index < rounds; index += 1) {
      if (rounds > 1) log(`import benchmark: round ${index + 1} of ${rounds}`);
      if (options.plain ?? true) plainRuns.push(await runPlainScript(context));
      for (const store of stores) storeRuns.get(store)?.push(await runImport(context, store));
    }

    return {
      contacts,
      settings,
      rounds,
      plain:
        plainRuns.length === 0
          ? null
          : {
              median: {
                contactsPerSecond: round(medianOf(plainRuns, (run) => run.contactsPerSecond) ?? 0),
                cpuMsPerContact: medianOf(plainRuns, (run) => run.cpuMsPerContact) ?? 0,
                machineCpuMsPerContact: medianOf(plainRuns, (run) => run.machineCpuMsPerContact),
              },
              runs: plainRuns,
            },
      imports: stores.map((store) => {
        const runs = storeRuns.get(store) ?? [];
        return {
          store,
          median: {
            contactsPerSecond: round(medianOf(runs, (run) => run.contactsPerSecond) ?? 0),
            workerCpuMsPerContact: medianOf(runs, (run) => run.workerCpuMsPerContact) ?? 0,
            machineCpuMsPerContact: medianOf(runs, (run) => run.machineCpuMsPerContact),
            workerPeakRssMb: medianOf(runs, (run) => run.workerPeakRssMb) ?? 0,
          },
          // Each round's ratio (the plain script and this import, measured a minute or two apart), then the median.
          ratio:
            runs.length > 0 && plainRuns.length === runs.length
              ? round(
                  median(
                    runs.map(
                      (run, index) =>
                        run.contactsPerSecond / (plainRuns[index] as PlainImportRun).contactsPerSecond,
                    ),
                  ),
                  2,
                )
              : null,
          runs,
        };
      }),
    };
  } finally {
    for (const child of children) child.kill();
    await env?.teardown().catch(() => undefined);
    await postgres?.stop().catch(() => undefined);
    rmSync(folder, { recursive: true, force: true });
  }
}

export interface ImportBenchmarks {
  /** Throughput against the plain script, per store, and actions. */
  throughput: ImportRunReport;
  /** The peak memory runs, one per store (null when skipped). */
  memory: ImportRunReport | null;
}

/** The throughput rounds, then the memory runs (100,000 contacts by default; 0 skips them). */
export async function runImportBenchmarks(
  options: {
    contacts?: number;
    rounds?: number;
    memoryContacts?: number;
    stores?: readonly BenchStore[];
    log?: (line: string) => void;
  } = {},
): Promise<ImportBenchmarks> {
  const common = {
    ...(options.stores ? { stores: options.stores } : {}),
    ...(options.log ? { log: options.log } : {}),
  };
  const throughput = await measureImportThroughput({
    contacts: options.contacts ?? 20_000,
    rounds: options.rounds ?? 3,
    ...common,
  });
  const memoryContacts = options.memoryContacts ?? 100_000;
  const memory =
    memoryContacts > 0
      ? await measureImportThroughput({ contacts: memoryContacts, plain: false, ...common })
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

/** Medians of the other processes' CPU per contact, as "sandboxes / Temporal / PostgreSQL". */
function othersText(runs: readonly OthersCpu[]): string {
  return (['sandboxes', 'temporal', 'postgres'] as const)
    .map((name) => ms(medianOf(runs, (run) => run[name])))
    .join(' / ');
}

const storeName = (store: BenchStore): string =>
  store === 'postgres' ? 'PostgreSQL store' : 'embedded store';
const ms = (value: number | null): string => (value === null ? 'n/a' : value.toFixed(2));

export function importFigures({ throughput, memory }: ImportBenchmarks): BenchFigure[] {
  const rounds = throughput.rounds > 1 ? `, median of ${throughput.rounds} rounds` : '';
  const figures: BenchFigure[] = [];
  const { plain } = throughput;
  if (plain) {
    figures.push({
      figure: `plain script, contacts/s (same calls, no Temporal${rounds})`,
      value: number(plain.median.contactsPerSecond),
      goal: '',
      met: null,
    });
  }
  for (const report of throughput.imports) {
    const name = storeName(report.store);
    figures.push({
      figure: `import on the ${name}, contacts/s (${number(throughput.contacts)} contacts${rounds})`,
      value: number(report.median.contactsPerSecond),
      goal: '',
      met: null,
    });
    if (plain && report.ratio !== null) {
      figures.push(
        {
          figure: `import on the ${name} / plain script`,
          value: report.ratio.toFixed(2),
          goal: `>= ${importRatioGoal}`,
          met: report.ratio >= importRatioGoal,
        },
        {
          figure: `CPU ms per contact, worker (${name}) / plain script`,
          value: `${ms(report.median.workerCpuMsPerContact)} / ${ms(plain.median.cpuMsPerContact)}`,
          goal: '',
          met: null,
        },
        {
          figure: `machine CPU ms per contact, import (${name}) / plain script`,
          value: `${ms(report.median.machineCpuMsPerContact)} / ${ms(plain.median.machineCpuMsPerContact)}`,
          goal: '',
          met: null,
        },
        {
          figure: `  of which sandboxes / Temporal / PostgreSQL, import (${name})`,
          value: othersText(report.runs.map((run) => run.othersCpuMsPerContact)),
          goal: '',
          met: null,
        },
        {
          figure: '  of which sandboxes / Temporal / PostgreSQL, plain script',
          value: othersText(plain.runs.map((run) => run.othersCpuMsPerContact)),
          goal: '',
          met: null,
        },
      );
    }
  }
  const actions = throughput.imports[0]?.runs[0]?.actions;
  if (actions) {
    figures.push({
      figure: 'Temporal actions per 1,000 contacts',
      value: actions.per1000Contacts.toFixed(1),
      goal: `<= ${actionsPer1000Goal}`,
      met: actions.per1000Contacts <= actionsPer1000Goal,
    });
  }
  for (const report of memory?.imports ?? []) {
    const run = report.runs[0];
    if (!run || !memory) continue;
    const name = storeName(report.store);
    figures.push(
      {
        figure: `worker peak RSS, MB (${name}, ${number(memory.contacts)} contacts)`,
        value: run.workerPeakRssMb.toFixed(1),
        goal: `< ${workerPeakRssGoalMb}`,
        met: run.workerPeakRssMb < workerPeakRssGoalMb,
      },
      {
        figure: `worker peak RSS at its first start (creating the ${name}), MB`,
        value: run.firstStartPeakRssMb.toFixed(1),
        goal: '',
        met: null,
      },
      {
        figure: `import on the ${name}, contacts/s (${number(memory.contacts)} contacts)`,
        value: number(run.contactsPerSecond),
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

/** `--store embedded|postgres|both` (default both). */
export function storesOption(argv: readonly string[] = process.argv): readonly BenchStore[] {
  const choice = choiceOption('store', ['embedded', 'postgres', 'both'] as const, 'both', argv);
  return choice === 'both' ? benchStores : [choice];
}

/** Each round's figures, for the eye: the medians hide how much the machine's other load moved them. */
export function formatRounds(report: ImportRunReport): string {
  const rows: Array<[string, string]> = [];
  for (let index = 0; index < report.rounds; index += 1) {
    const plain = report.plain?.runs[index];
    const imports = report.imports.map((entry) => {
      const run = entry.runs[index];
      const ratio = run && plain ? ` (${(run.contactsPerSecond / plain.contactsPerSecond).toFixed(2)})` : '';
      return `${entry.store} ${run ? number(run.contactsPerSecond) : '-'}${ratio}`;
    });
    rows.push([
      `round ${index + 1}`,
      [plain ? `plain ${number(plain.contactsPerSecond)}` : undefined, ...imports].filter(Boolean).join(', '),
    ]);
  }
  return formatRows('Contacts per second in each round (import / plain script)', rows);
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const benchmarks = await runImportBenchmarks({
    contacts: option('contacts', 20_000),
    rounds: option('rounds', 3),
    memoryContacts: option('memory-contacts', 100_000, 0),
    stores: storesOption(),
  });
  const { settings } = benchmarks.throughput;
  process.stdout.write(
    formatFigures(
      `Initial import (pages of ${settings.pageSize}, payloads of ${settings.payloadSize}, ${settings.concurrency} lanes; Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'})`,
      importFigures(benchmarks),
    ),
  );
  process.stdout.write(formatRounds(benchmarks.throughput));
  const actions = benchmarks.throughput.imports[0]?.runs[0]?.actions;
  if (actions) {
    process.stdout.write(
      formatRows('Actions of the import', [
        ['executions (start, continue-as-new)', number(actions.executions)],
        ['workflow tasks', number(actions.workflowTasks)],
        ['activity attempts', number(actions.activities)],
        ['timers, signals, updates', `${actions.timers}, ${actions.signals}, ${actions.updates}`],
      ]),
    );
  }
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

if (require.main === module) runMain(main);
