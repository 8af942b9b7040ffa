/**
 * Runs the crm-sync service in a child OS process (service-process-main.ts) that a test can kill with SIGKILL,
 * the way a crashed or OOM-killed worker dies. The child runs the TypeScript sources themselves, compiled file by
 * file as they are required by SWC (already installed: the Temporal SDK bundles workflows with it), so it never
 * depends on a `dist/` that may be stale; its startup costs about a second more than in-process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { CrmSyncConfigInput } from '../../src/config/config-schema';
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
