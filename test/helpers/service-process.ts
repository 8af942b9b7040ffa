/**
 * Runs the crm-sync service in a child OS process (service-process-main.ts) that a test can kill with SIGKILL,
 * the way a crashed or OOM-killed worker dies. The child runs the TypeScript sources themselves, compiled file by
 * file as they are required by SWC (already installed: the Temporal SDK bundles workflows with it), so it never
 * depends on a `dist/` that may be stale; its startup costs about a second more than in-process.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CrmSyncConfigInput } from '../../src/config/config-schema';
import { startCrmSandbox, type CrmSandbox } from '../../src/sandbox/crm-sandbox';
import { startS360Sandbox, type S360Sandbox } from '../../src/sandbox/s360-sandbox';
import { devServerExecutable } from '../../src/temporal-server/locate-binaries';
import type { ServiceProcessCommand, ServiceProcessEvent } from './service-process-main';

export interface ServiceProcess {
  pid: number;
  receiverUrl: string;
  /** Settles when the process has exited, however it ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL: no shutdown, no flush, nothing closed; resolves once the process is gone. */
  kill(): Promise<void>;
  /** A graceful shutdown (running activities finish, the store is closed); SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface StartServiceProcessOptions {
  config: CrmSyncConfigInput;
  /** A workflow bundle written to a file (`bundleWorkflowCode(...).code`): bundled once per test file. */
  workflowBundlePath: string;
  /** Default 60 s. */
  startTimeoutMs?: number;
}

const running = new Set<ChildProcess>();

// Last resort when a test process exits without its afterAll: no service process is left behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Registers a require hook compiling `.ts` with SWC, then loads the entry. Runs as `node -e` in the child. */
function bootstrapSource(entry: string): string {
  const swc = require.resolve('@swc/core');
  const options = {
    sourceMaps: 'inline',
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022', keepClassNames: true },
    module: { type: 'commonjs' },
  };
  return [
    `const { readFileSync } = require('node:fs');`,
    `const { transformSync } = require(${JSON.stringify(swc)});`,
    `const options = ${JSON.stringify(options)};`,
    `require.extensions['.ts'] = (module, filename) => {`,
    `  const { code } = transformSync(readFileSync(filename, 'utf8'), { ...options, filename });`,
    `  module._compile(code, filename);`,
    `};`,
    `require(${JSON.stringify(entry)});`,
  ].join('\n');
}

/** Starts the service in a new process and resolves once its worker polls and its receiver listens. */
export async function startServiceProcess(options: StartServiceProcessOptions): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['-e', bootstrapSource(join(__dirname, 'service-process-main.ts'))], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  running.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  const next = (type: ServiceProcessEvent['type'], timeoutMs: number): Promise<ServiceProcessEvent> =>
    new Promise((resolve, reject) => {
      const onMessage = (event: ServiceProcessEvent): void => {
        if (event.type !== type && event.type !== 'failed') return;
        done();
        resolve(event);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`service process ${child.pid}: no "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        done();
        reject(new Error(`service process ${child.pid} exited (${signal ?? code}) before "${type}"`));
      };
      const done = (): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const command = (message: ServiceProcessCommand): void => {
    if (child.connected) child.send(message);
  };
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };

  try {
    const ready = next('ready', options.startTimeoutMs ?? 60_000);
    command({ type: 'start', config: options.config, workflowBundlePath: options.workflowBundlePath });
    const event = await ready;
    if (event.type !== 'ready') {
      throw new Error(
        `service process ${child.pid} failed to start: ${event.type === 'failed' ? event.message : event.type}`,
      );
    }
    return {
      pid: child.pid as number,
      receiverUrl: event.receiverUrl,
      exited,
      kill,
      async stop(timeoutMs = 30_000) {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const stopped = next('stopped', timeoutMs).catch(() => undefined);
        command({ type: 'stop' });
        await stopped;
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      },
    };
  } catch (err) {
    await kill();
    throw err;
  }
}

/** SIGKILLs every service process this test file started that is still running (for `afterAll`). */
export async function killServiceProcesses(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          if (!child.kill('SIGKILL')) resolve();
        }),
    ),
  );
}

/** What the end-to-end tests of service processes share: a dev server, the sandboxes, a workflow bundle on disk. */
export interface ServiceProcessFixture {
  env: TestWorkflowEnvironment;
  s360: S360Sandbox;
  crm: CrmSandbox;
  /** A temporary folder of the test's own (the bundle, the data folders). */
  folder: string;
  workflowBundlePath: string;
  /**
   * The configuration of a service process against the sandboxes, on the task queue and target of the fixture:
   * its own receiver port and data folder, and what `more` adds (a store, for one).
   */
  configFor(receiverPort: number, more?: Partial<CrmSyncConfigInput>): CrmSyncConfigInput;
  /** Kills the service processes still running, then stops the sandboxes and the server. */
  close(): Promise<void>;
}

/** Starts a {@link ServiceProcessFixture}; call `close()` in `afterAll`. */
export async function startServiceProcessFixture(options: {
  target: string;
  taskQueue: string;
  signingSecret: string;
  jwtSecret: string;
}): Promise<ServiceProcessFixture> {
  const folder = mkdtempSync(join(tmpdir(), `crm-sync-${options.target}-`));
  const [bundle, env] = await Promise.all([
    bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows') }),
    TestWorkflowEnvironment.createLocal({ server: { executable: devServerExecutable(), ip: '127.0.0.1' } }),
  ]);
  const workflowBundlePath = join(folder, 'workflow-bundle.js');
  writeFileSync(workflowBundlePath, bundle.code);
  const { jwtSecret, signingSecret, target } = options;
  const s360 = await startS360Sandbox({ port: 0, jwtSecret, institution: 'E2E', callsPerMinute: 0 });
  const crm = await startCrmSandbox({ port: 0, signingSecret });
  return {
    env,
    s360,
    crm,
    folder,
    workflowBundlePath,
    configFor: (receiverPort, more = {}) => ({
      dataDir: join(folder, `data-${receiverPort}`),
      temporal: { address: env.address, namespace: env.namespace ?? 'default', taskQueue: options.taskQueue },
      s360: { baseUrl: s360.url, institution: 'E2E', jwtSecret, callsPerMinute: 100_000 },
      crm: { targets: [{ name: target, kind: 'webhook', url: `${crm.url}/hooks/contacts`, signingSecret }] },
      receiver: { port: receiverPort },
      ...more,
    }),
    async close() {
      await killServiceProcesses();
      await Promise.all([s360.close(), crm.close()]);
      await env.teardown();
      rmSync(folder, { recursive: true, force: true });
    },
  };
}
