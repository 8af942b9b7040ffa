import type { Command } from 'commander';
import { loadConfig } from '../config/load-config';
import type { CrmSyncConfig } from '../config/config-schema';

/** A failure the CLI reports as one clear line and a non-zero exit code (2: bad input, 1: anything else). */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

/** Options every command accepts. */
export interface GlobalOptions {
  config?: string;
  json?: boolean;
}

/** What a command needs from its surroundings; tests pass their own streams and environment. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/** Loads the configuration named by `--config` (or the environment / working directory). */
export function configFor(command: Command, io: CliIo): CrmSyncConfig {
  return loadConfig({ configFile: globalOptions(command).config, env: io.env, cwd: io.cwd });
}

/** Prints `value` as JSON with `--json`, else the human text. */
export function output(command: Command, io: CliIo, value: unknown, human: () => string): void {
  if (globalOptions(command).json) io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else io.stdout.write(`${human()}\n`);
}

/** Parses a whole number option, naming the option on bad input. */
export function integerOption(name: string): (value: string) => number {
  return (value: string) => {
    if (!/^-?\d+$/.test(value.trim()))
      throw new CliError(`${name}: expected a whole number, got "${value}"`, 2);
    return Number(value);
  };
}
