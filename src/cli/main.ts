import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/load-config';
import { MappingConfigError } from '../mapping/compile-mapping';
import { StoreUnavailableError } from '../store/open-sync-store';
import { TemporalUnreachableError } from '../client';
import { CliError, type CliIo } from './cli-context';
import { registerConfigCommands } from './commands/config-command';
import { registerDevCommand } from './commands/dev-command';
import { registerSandboxCommand } from './commands/sandbox-command';
import { registerWorkerCommand } from './commands/worker-command';
import { registerFailedCommands } from './commands/failed-command';
import { registerSyncCommands } from './commands/sync-commands';
import { registerMappingCommands } from './commands/mapping-command';
import { registerConflictsCommands } from './commands/conflicts-command';
import { registerPushCommand } from './commands/push-command';
import { registerMassUpdateCommands } from './commands/mass-update-command';
import { registerImportCommands } from './commands/import-command';

/** Builds the `crm-sync` command tree. Commands write to `io`, never to the process streams directly. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('crm-sync')
    .description('Bi-directional contact synchronisation between SecuTix S-360 and CRMs, on Temporal')
    .option(
      '-c, --config <file>',
      'configuration file (YAML or JSON); default: CRM_SYNC_CONFIG or ./crm-sync.config.yaml',
    )
    .option('--json', 'machine-readable output')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
  registerDevCommand(program, io);
  registerWorkerCommand(program, io);
  registerSandboxCommand(program, io);
  registerSyncCommands(program, io);
  registerImportCommands(program, io);
  registerFailedCommands(program, io);
  registerConfigCommands(program, io);
  registerMappingCommands(program, io);
  registerConflictsCommands(program, io);
  registerPushCommand(program, io);
  registerMassUpdateCommands(program, io);
  return program;
}

/** Runs the CLI and resolves to the process exit code. */
export async function main(argv: string[], io: Partial<CliIo> = {}): Promise<number> {
  const fullIo: CliIo = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    env: io.env ?? process.env,
    cwd: io.cwd ?? process.cwd(),
  };
  const program = buildProgram(fullIo);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version end here with code 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof CliError || err instanceof ConfigError || err instanceof MappingConfigError) {
      fullIo.stderr.write(`crm-sync: ${err.message}\n`);
      return err instanceof CliError ? err.exitCode : 2;
    }
    if (err instanceof TemporalUnreachableError || err instanceof StoreUnavailableError) {
      fullIo.stderr.write(`crm-sync: ${err.message}\n`);
      return 1;
    }
    fullIo.stderr.write(`crm-sync: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}
