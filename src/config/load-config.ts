import { existsSync, readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, defaultCrmTarget, type CrmSyncConfig } from './config-schema';

/** A configuration that cannot be used; `issues` lists every problem with its path and source. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly issues: string[],
    readonly source: string,
  ) {
    super(`Invalid configuration (${source}):\n${issues.map((issue) => `  - ${issue}`).join('\n')}`);
  }
}

/** Files looked for in the working directory when no `--config` is given, in this order. */
export const defaultConfigFiles = ['crm-sync.config.yaml', 'crm-sync.config.yml', 'crm-sync.config.json'];

type EnvValueKind = 'string' | 'number' | 'boolean';

/**
 * Environment variables that override the file, with the config path they set. Variables for the first CRM
 * target (`crm.targets[0]`) let a single-target deployment run from the environment alone.
 */
export const environmentVariables: ReadonlyArray<{ name: string; path: string[]; kind: EnvValueKind }> = [
  { name: 'CRM_SYNC_DATA_DIR', path: ['dataDir'], kind: 'string' },
  { name: 'CRM_SYNC_TEMPORAL_ADDRESS', path: ['temporal', 'address'], kind: 'string' },
  { name: 'CRM_SYNC_TEMPORAL_NAMESPACE', path: ['temporal', 'namespace'], kind: 'string' },
  { name: 'CRM_SYNC_TASK_QUEUE', path: ['temporal', 'taskQueue'], kind: 'string' },
  { name: 'CRM_SYNC_S360_BASE_URL', path: ['s360', 'baseUrl'], kind: 'string' },
  { name: 'CRM_SYNC_S360_INSTITUTION', path: ['s360', 'institution'], kind: 'string' },
  { name: 'CRM_SYNC_S360_OPERATOR', path: ['s360', 'operator'], kind: 'string' },
  { name: 'CRM_SYNC_S360_PARTNER', path: ['s360', 'partner'], kind: 'string' },
  { name: 'CRM_SYNC_S360_JWT_SECRET', path: ['s360', 'jwtSecret'], kind: 'string' },
  { name: 'CRM_SYNC_S360_CALLS_PER_MINUTE', path: ['s360', 'callsPerMinute'], kind: 'number' },
  { name: 'CRM_SYNC_CRM_WEBHOOK_URL', path: ['crm', 'targets', '0', 'url'], kind: 'string' },
  { name: 'CRM_SYNC_CRM_SIGNING_SECRET', path: ['crm', 'targets', '0', 'signingSecret'], kind: 'string' },
  { name: 'CRM_SYNC_RECEIVER_HOST', path: ['receiver', 'host'], kind: 'string' },
  { name: 'CRM_SYNC_RECEIVER_PORT', path: ['receiver', 'port'], kind: 'number' },
  { name: 'CRM_SYNC_RECEIVER_S360_TOKEN', path: ['receiver', 's360Token'], kind: 'string' },
  { name: 'CRM_SYNC_ADMIN_TOKEN', path: ['receiver', 'adminToken'], kind: 'string' },
  { name: 'CRM_SYNC_OUTBOUND_INTERVAL_MINUTES', path: ['outbound', 'intervalMinutes'], kind: 'number' },
  { name: 'CRM_SYNC_OUTBOUND_MAX_CONTACTS_PER_RUN', path: ['outbound', 'maxContactsPerRun'], kind: 'number' },
  { name: 'CRM_SYNC_OUTBOUND_BATCH_SIZE', path: ['outbound', 'batchSize'], kind: 'number' },
  { name: 'CRM_SYNC_INBOUND_INTERVAL_MINUTES', path: ['inbound', 'intervalMinutes'], kind: 'number' },
  { name: 'CRM_SYNC_INBOUND_MAX_CONTACTS_PER_RUN', path: ['inbound', 'maxContactsPerRun'], kind: 'number' },
  { name: 'CRM_SYNC_INBOUND_BATCH_SIZE', path: ['inbound', 'batchSize'], kind: 'number' },
  {
    name: 'CRM_SYNC_CRM_INBOUND_SIGNING_SECRET',
    path: ['crm', 'targets', '0', 'inboundSigningSecret'],
    kind: 'string',
  },
  { name: 'CRM_SYNC_MAPPING_FILE', path: ['mapping', 'file'], kind: 'string' },
  { name: 'CRM_SYNC_STORE_URL', path: ['store', 'url'], kind: 'string' },
  { name: 'CRM_SYNC_STORE_POOL_SIZE', path: ['store', 'poolSize'], kind: 'number' },
];

export interface LoadConfigOptions {
  /** `--config FILE`; else `CRM_SYNC_CONFIG`; else the first of {@link defaultConfigFiles} that exists. */
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Reads, merges and validates the configuration. Throws {@link ConfigError} listing every problem. */
export function loadConfig(options: LoadConfigOptions = {}): CrmSyncConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = findConfigFile(options.configFile ?? nonEmpty(env.CRM_SYNC_CONFIG), cwd);
  const fromFile = file ? readConfigFile(file) : {};
  const { merged, issues: envIssues, origins } = applyEnvironment(fromFile, env);
  const sources = [file ? `file ${file}` : 'defaults', ...(origins.size > 0 ? ['environment'] : [])].join(
    ' + ',
  );
  const result = configSchema.safeParse(merged);
  const issues = [...envIssues];
  if (!result.success) issues.push(...formatIssues(result.error.issues, origins));
  if (issues.length > 0) throw new ConfigError(issues, sources);
  const config = result.data as CrmSyncConfig;
  return {
    ...config,
    dataDir: resolve(cwd, config.dataDir),
    mapping: config.mapping.file ? { file: resolve(cwd, config.mapping.file) } : {},
  };
}

/** Validates an already parsed object (for tests and `crm-sync config check`). */
export function parseConfig(input: unknown, source = 'input'): CrmSyncConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, new Map()), source);
  return result.data;
}

function findConfigFile(explicit: string | undefined, cwd: string): string | undefined {
  if (explicit) {
    const path = resolve(cwd, explicit);
    if (!existsSync(path)) throw new ConfigError([`configuration file not found: ${path}`], explicit);
    return path;
  }
  return defaultConfigFiles.map((name) => resolve(cwd, name)).find((path) => existsSync(path));
}

function readConfigFile(path: string): unknown {
  const text = readFileSync(path, 'utf8');
  try {
    const value: unknown = extname(path) === '.json' ? JSON.parse(text) : parseYaml(text);
    if (value === null || value === undefined) return {};
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new ConfigError(['(root): expected a mapping of settings (see `crm-sync config example`)'], path);
    }
    return value;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError([`cannot parse: ${(err as Error).message}`], `file ${path}`);
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function applyEnvironment(
  base: unknown,
  env: NodeJS.ProcessEnv,
): { merged: unknown; issues: string[]; origins: Map<string, string> } {
  const merged: unknown = structuredClone(base ?? {});
  const issues: string[] = [];
  const origins = new Map<string, string>();
  for (const variable of environmentVariables) {
    const raw = nonEmpty(env[variable.name]);
    if (raw === undefined) continue;
    let value: string | number | boolean = raw;
    if (variable.kind === 'number') {
      value = Number(raw);
      if (!Number.isFinite(value)) {
        issues.push(`${variable.name}: expected a number, got "${raw}"`);
        continue;
      }
    }
    if (variable.path[1] === 'targets' && !hasFirstTarget(merged)) {
      // No target in the file: the variables describe a single webhook target, starting from the default one.
      setPath(merged as Record<string, unknown>, ['crm', 'targets'], [{ ...defaultCrmTarget }]);
    }
    setPath(merged as Record<string, unknown>, variable.path, value);
    origins.set(variable.path.join('.'), variable.name);
  }
  return { merged, issues, origins };
}

function hasFirstTarget(config: unknown): boolean {
  const targets = (config as { crm?: { targets?: unknown[] } } | undefined)?.crm?.targets;
  return Array.isArray(targets) && targets.length > 0;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node: Record<string, unknown> = target;
  path.slice(0, -1).forEach((key) => {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  });
  node[path[path.length - 1] as string] = value;
}

function formatIssues(issues: z.core.$ZodIssue[], origins: Map<string, string>): string[] {
  return issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    const shown = issue.path.reduce<string>(
      (text, key) =>
        typeof key === 'number' ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key),
      '',
    );
    const origin = origins.get(path);
    return `${shown || '(root)'}: ${issue.message}${origin ? ` (from ${origin})` : ''}`;
  });
}
