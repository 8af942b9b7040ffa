import type { CrmSyncConfig } from '../config/config-schema';
import { CliError } from './cli-context';

/** The CRM target a command acts on: `--target`, else the only (or the `default`) configured one. */
export function resolveTarget(config: CrmSyncConfig, requested: string | undefined): string {
  const names = config.crm.targets.map((target) => target.name);
  if (requested !== undefined) {
    if (!names.includes(requested)) {
      throw new CliError(`--target: unknown CRM target "${requested}" (configured: ${names.join(', ')})`, 2);
    }
    return requested;
  }
  if (names.length === 1) return names[0] as string;
  if (names.includes('default')) return 'default';
  throw new CliError(`several CRM targets are configured (${names.join(', ')}): choose one with --target`, 2);
}
