import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { z } from 'zod';
import { AdapterError, NotFoundError, ThrottledError, TransientError } from '../../adapters/http/errors';
import { SlidingWindowLimiter } from '../../adapters/http/sliding-window-limiter';
import { S360Client } from '../../adapters/s360/s360-client';
import { contactNumberSchema, s360ContactSchema, type S360Contact } from '../../adapters/s360/s360-contact';
import type { CrmSyncConfig } from '../../config/config-schema';
import {
  MappingConfigError,
  type CompiledRule,
  type ContactMappingResult,
  type InboundMappingResult,
  type MappingPlan,
} from '../../mapping/compile-mapping';
import { defaultMappingFile, loadMapping } from '../../mapping/load-mapping';
import type { CrmEntity } from '../../mapping/mapping-config-schema';
import { CliError, configFor, globalOptions, output, type CliIo } from '../cli-context';

interface MappingOptions {
  file?: string;
}

/** `crm-sync mapping check|preview`: validate the mapping and see what it makes of a contact. */
export function registerMappingCommands(program: Command, io: CliIo): void {
  const mapping = program
    .command('mapping')
    .description('check the field mapping (S-360 <-> CRM) and preview what it makes of a contact');

  mapping
    .command('check')
    .description('validate the mapping file and list its rules')
    .option('-f, --file <mapping>', 'check this mapping file (YAML or JSON) instead of the configured one')
    .action((options: MappingOptions, command: Command) => {
      const source = mappingSource(command, io, options);
      let plan: MappingPlan;
      try {
        plan = loadMapping(source.file);
      } catch (err) {
        if (!(err instanceof MappingConfigError)) throw err;
        if (globalOptions(command).json) {
          const invalid = { valid: false, file: source.file, issues: err.issues };
          io.stdout.write(`${JSON.stringify(invalid, null, 2)}\n`);
        }
        throw new CliError(err.message, 2);
      }
      const summary = summarize(plan, source);
      output(command, io, { valid: true, ...summary }, () => formatSummary(summary));
    });

  mapping
    .command('preview')
    .description(
      'map one S-360 contact to its CRM record and back, without sending anything ' +
        '(reads the contact from S-360, or from a JSON file)',
    )
    .argument(
      '<contact>',
      'an S-360 contact number, or a JSON file holding a contact (as getContactData returns)',
    )
    .option('-f, --file <mapping>', 'use this mapping file (YAML or JSON) instead of the configured one')
    .action(async (contactArgument: string, options: MappingOptions, command: Command) => {
      const contactFile = resolve(io.cwd, contactArgument);
      const fromFile = contactArgument.toLowerCase().endsWith('.json') || existsSync(contactFile);
      if (!fromFile && !contactNumberSchema.safeParse(contactArgument).success) {
        throw new CliError(
          `"${contactArgument}" is neither a contact number (1 to 20 digits) nor a JSON file of a contact`,
          2,
        );
      }
      // The configuration is only needed for S-360 or for the configured mapping file.
      let config: CrmSyncConfig | undefined;
      const configuration = (): CrmSyncConfig => (config ??= configFor(command, io));
      const source = mappingSource(command, io, options, configuration);
      const plan = loadPlan(source.file);

      const contact = fromFile
        ? readContactFile(contactFile, contactArgument)
        : await fetchContact(configuration(), contactArgument);
      const origin = fromFile ? contactFile : `S-360 ${configuration().s360.baseUrl}`;
      const outbound = plan.mapOutbound(contact);
      const inbound = outbound.ok ? roundTrip(plan, outbound.record, contact) : undefined;
      const preview: MappingPreview = {
        contactNumber: contact.contactNumber,
        contactFrom: origin,
        mappingFile: source.file,
        wouldBeParked: !outbound.ok,
        outbound,
        inbound: inbound ?? null,
      };
      output(command, io, preview, () => formatPreview(preview));
    });
}

interface MappingSource {
  file: string;
  isDefault: boolean;
}

/** `--file`, else the configuration's `mapping.file`, else the delivered default. */
function mappingSource(
  command: Command,
  io: CliIo,
  options: MappingOptions,
  configuration: () => CrmSyncConfig = () => configFor(command, io),
): MappingSource {
  const file = options.file !== undefined ? resolve(io.cwd, options.file) : configuration().mapping.file;
  return { file: file ?? defaultMappingFile, isDefault: file === undefined };
}

function loadPlan(file: string): MappingPlan {
  try {
    return loadMapping(file);
  } catch (err) {
    if (err instanceof MappingConfigError) throw new CliError(err.message, 2);
    throw err;
  }
}

// --- check ---

interface RuleSummary {
  crm: string;
  s360: string[];
  separator?: string;
  direction: CompiledRule['direction'];
  entities: CrmEntity[];
  transforms: string[];
  type: CompiledRule['type'];
  maxLength?: number;
  onTooLong?: CompiledRule['onTooLong'];
  required: boolean;
}

interface MappingSummary {
  file: string;
  isDefault: boolean;
  objects: Record<CrmEntity, string>;
  rules: RuleSummary[];
}

const entities: readonly CrmEntity[] = ['person', 'account', 'relay'];

function summarize(plan: MappingPlan, source: MappingSource): MappingSummary {
  return {
    file: source.file,
    isDefault: source.isDefault,
    objects: {
      person: plan.objectOf('person'),
      account: plan.objectOf('account'),
      relay: plan.objectOf('relay'),
    },
    rules: plan.rules.map((rule) => ({
      crm: rule.crm,
      s360: rule.sources.map((path) => path.text),
      ...(rule.separator !== undefined ? { separator: rule.separator } : {}),
      direction: rule.direction,
      entities: entities.filter((entity) => rule.entities.has(entity)),
      transforms: rule.transforms.map((transform) => transform.label),
      type: rule.type,
      ...(rule.maxLength !== undefined ? { maxLength: rule.maxLength, onTooLong: rule.onTooLong } : {}),
      required: rule.required,
    })),
  };
}

const directionArrows: Record<CompiledRule['direction'], string> = {
  both: '<->',
  outbound: '<-',
  inbound: '->',
};

function formatSummary(summary: MappingSummary): string {
  const rows = summary.rules.map((rule) => {
    const checks = [
      rule.type,
      ...(rule.maxLength !== undefined
        ? [`maxLength ${rule.maxLength}${rule.onTooLong === 'truncate' ? ' (truncate)' : ''}`]
        : []),
      ...(rule.required ? ['required'] : []),
    ];
    return [
      rule.crm,
      directionArrows[rule.direction],
      compactPaths(rule.s360),
      rule.direction,
      rule.entities.join(','),
      [
        ...(rule.separator !== undefined ? [`join ${JSON.stringify(rule.separator)}`] : []),
        ...rule.transforms,
      ].join(', ') || '-',
      checks.join(', '),
    ];
  });
  const header = ['CRM FIELD', '', 'S-360', 'DIRECTION', 'ENTITIES', 'TRANSFORMS', 'CRM CHECKS'];
  return [
    `Mapping is valid: ${summary.file}${summary.isDefault ? ' (the default mapping)' : ''}`,
    `CRM objects: person -> ${summary.objects.person}, account -> ${summary.objects.account}, ` +
      `relay -> ${summary.objects.relay}`,
    `${summary.rules.length} rule(s) (<- S-360 to CRM only, -> CRM to S-360 only, <-> both):`,
    ...table(header, rows),
  ].join('\n');
}

/** `a.b.x`, `a.b.y` -> `a.b.{x,y}`: several paths under the same parent, as one. */
function compactPaths(paths: readonly string[]): string {
  if (paths.length < 2) return paths.join('');
  const first = paths[0] as string;
  let prefix = first.slice(0, first.lastIndexOf('.') + 1);
  while (prefix !== '' && !paths.every((path) => path.startsWith(prefix))) {
    prefix = prefix.slice(0, prefix.slice(0, -1).lastIndexOf('.') + 1);
  }
  const rests = paths.map((path) => path.slice(prefix.length));
  return prefix !== '' && rests.every((rest) => !rest.includes('.'))
    ? `${prefix}{${rests.join(',')}}`
    : paths.join(' + ');
}

/** Aligned columns, two spaces apart, indented; the last column is not padded. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].map((text) => `  ${text}`);
}

// --- preview ---

interface FieldChange {
  path: string;
  before: unknown;
  after: unknown;
}

type InboundPreview = InboundMappingResult & { changes?: FieldChange[] };

interface MappingPreview {
  contactNumber: string;
  contactFrom: string;
  mappingFile: string;
  wouldBeParked: boolean;
  outbound: ContactMappingResult;
  inbound: InboundPreview | null;
}

/** The contact the inbound direction makes of the record, written over the contact it came from. */
function roundTrip(
  plan: MappingPlan,
  record: Extract<ContactMappingResult, { ok: true }>['record'],
  contact: S360Contact,
): InboundPreview {
  const result = plan.mapInbound({ entity: record.entity, fields: record.fields }, contact);
  if (!result.ok) return result;
  return { ...result, changes: differences(contact, result.contact) };
}

function readContactFile(path: string, shown: string): S360Contact {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the contact file ${shown}: ${(err as Error).message}`, 2);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${shown} is not valid JSON: ${(err as Error).message}`, 2);
  }
  // A saved getContactData response holds the contact under contactData.
  if (isRecord(value) && !('contactNumber' in value) && isRecord(value.contactData))
    value = value.contactData;
  const parsed = s360ContactSchema.safeParse(value);
  if (!parsed.success) {
    throw new CliError(`${shown} is not an S-360 contact:\n${formatIssues(parsed.error.issues)}`, 2);
  }
  return parsed.data;
}

async function fetchContact(config: CrmSyncConfig, contactNumber: string): Promise<S360Contact> {
  const client = new S360Client({
    ...config.s360,
    limiter: new SlidingWindowLimiter({ limit: config.s360.callsPerMinute, windowMs: 60_000 }),
  });
  try {
    return await client.getContactData(contactNumber);
  } catch (err) {
    if (err instanceof NotFoundError) {
      throw new CliError(`contact ${contactNumber} was not found in S-360 at ${config.s360.baseUrl}`);
    }
    if (err instanceof TransientError && !(err.details.status && err.details.status >= 500)) {
      throw new CliError(
        `cannot reach S-360 at ${config.s360.baseUrl}: ${err.message} ` +
          '(check s360.baseUrl or CRM_SYNC_S360_BASE_URL)',
      );
    }
    if (err instanceof ThrottledError) {
      throw new CliError(`S-360 is throttling crm-sync; try again later (${err.message})`);
    }
    if (err instanceof AdapterError)
      throw new CliError(`reading the contact from S-360 failed: ${err.message}`);
    throw err;
  }
}

function formatPreview(preview: MappingPreview): string {
  const lines = [
    `S-360 contact ${preview.contactNumber} (from ${preview.contactFrom})`,
    `Mapping: ${preview.mappingFile}`,
    '',
  ];
  const outbound = preview.outbound;
  if (!outbound.ok) {
    lines.push(
      'Outbound (S-360 -> CRM): the contact would be parked, nothing would be sent:',
      `  field:  ${outbound.field}`,
      `  reason: ${outbound.reason}`,
    );
    return lines.join('\n');
  }
  const record = outbound.record;
  lines.push(
    `Outbound (S-360 -> CRM): ${record.object ?? record.entity} (${record.entity})` +
      (record.accountContactNumber ? `, linked to the account of ${record.accountContactNumber}` : ''),
    ...table(
      ['FIELD', 'VALUE'],
      Object.entries(record.fields).map(([field, value]) => [field, JSON.stringify(value)]),
    ),
    '',
  );
  const inbound = preview.inbound;
  if (inbound && !inbound.ok) {
    lines.push(
      'Inbound (CRM -> S-360) of this record: S-360 would refuse it:',
      `  field:  ${inbound.field}`,
      `  reason: ${inbound.reason}`,
    );
    return lines.join('\n');
  }
  if (inbound) {
    const changes = inbound.changes ?? [];
    lines.push(
      `Inbound (CRM -> S-360) of this record, over the same contact: ${inbound.written.length} attribute(s) written, ` +
        (changes.length === 0 ? 'none changed.' : `${changes.length} changed:`),
      ...changes.map(
        (change) => `  ${change.path}: ${describeValue(change.before)} -> ${describeValue(change.after)}`,
      ),
      'The S-360 contact it gives:',
      JSON.stringify(inbound.contact, null, 2),
    );
  }
  return lines.join('\n');
}

// --- helpers ---

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return '(root)';
  return path
    .map((key, index) => (typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((issue) => `  - ${formatPath(issue.path)}: ${issue.message}`).join('\n');
}

function describeValue(value: unknown): string {
  return value === undefined ? '(absent)' : JSON.stringify(value);
}

/** The leaves that differ between two contacts; an absent value and null count as the same. */
function differences(before: unknown, after: unknown, path = ''): FieldChange[] {
  if (Array.isArray(before) || Array.isArray(after)) {
    const left = Array.isArray(before) ? before : [];
    const right = Array.isArray(after) ? after : [];
    const changes: FieldChange[] = [];
    for (let index = 0; index < Math.max(left.length, right.length); index += 1) {
      changes.push(...differences(left[index], right[index], `${path}[${index}]`));
    }
    return changes;
  }
  if (isRecord(before) || isRecord(after)) {
    const left = isRecord(before) ? before : {};
    const right = isRecord(after) ? after : {};
    const keys = [...new Set([...Object.keys(left), ...Object.keys(right)])];
    return keys.flatMap((key) => differences(left[key], right[key], path ? `${path}.${key}` : key));
  }
  if ((before ?? null) === (after ?? null)) return [];
  return [{ path, before, after }];
}
