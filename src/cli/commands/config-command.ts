import type { Command } from 'commander';
import { exampleConfigYaml } from '../../config/example-config';
import { configFor, output, type CliIo } from '../cli-context';

/** `crm-sync config example|check`. */
export function registerConfigCommands(program: Command, io: CliIo): void {
  const config = program.command('config').description('print or check the configuration');
  config
    .command('example')
    .description('print a complete, commented configuration (every value is the default)')
    .action(() => {
      io.stdout.write(exampleConfigYaml);
    });
  config
    .command('check')
    .description('validate the configuration (file and environment) and print it with defaults applied')
    .action((_options, command: Command) => {
      const resolved = configFor(command, io);
      const redacted = {
        ...resolved,
        s360: { ...resolved.s360, jwtSecret: '***' },
        crm: { targets: resolved.crm.targets.map((target) => ({ ...target, signingSecret: '***' })) },
      };
      output(command, io, redacted, () => `Configuration is valid.\n${JSON.stringify(redacted, null, 2)}`);
    });
}
