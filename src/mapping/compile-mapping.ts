import type { S360Contact } from '../adapters/s360/s360-contact';
import type { CrmContactRecord } from './crm-contact-record';
import { characterLength, truncateCharacters, typeProblem } from './crm-field-checks';
import type {
  CrmEntity,
  CrmFieldType,
  MappedScalar,
  MappingConfig,
  MappingDirection,
} from './mapping-config-schema';
import { compileS360Path, S360PathError, type S360Path } from './s360-paths';
import {
  compileTransform,
  joinValues,
  Skip,
  splitValue,
  TransformConfigError,
  TransformError,
  type CompiledTransform,
} from './transforms';

/** The outcome of mapping one contact outbound: a record, or the CRM field at fault and why. */
export type ContactMappingResult =
  { ok: true; record: CrmContactRecord } | { ok: false; field: string; reason: string };

/** A CRM record as the inbound direction reads it. */
export interface CrmRecordInput {
  entity: CrmEntity;
  fields: Readonly<Record<string, MappedScalar>>;
}

/**
 * The outcome of mapping a CRM record inbound: the S-360 contact with the mapped attributes written over `base`
 * (or over nothing), and the attribute paths written; or the CRM field at fault and why.
 */
export type InboundMappingResult =
  | { ok: true; contact: Record<string, unknown>; written: string[] }
  | { ok: false; field: string; reason: string };

/** A rule ready to run. */
export interface CompiledRule {
  /** Position in the file, from 0. */
  readonly index: number;
  /** `rules[i] (CrmField <- s360.path)`: how messages name the rule. */
  readonly label: string;
  readonly crm: string;
  readonly sources: readonly S360Path[];
  readonly separator: string | undefined;
  readonly direction: MappingDirection;
  readonly entities: ReadonlySet<CrmEntity>;
  readonly transforms: readonly CompiledTransform[];
  readonly type: CrmFieldType;
  readonly maxLength: number | undefined;
  readonly onTooLong: 'reject' | 'truncate';
  readonly required: boolean;
  /** Who wins when both sides changed the field since the last sync. */
  readonly owner: 's360' | 'crm' | 'latest';
}

/** A compiled mapping: parse and check once, then map any number of records without parsing. */
export interface MappingPlan {
  readonly config: MappingConfig;
  readonly rules: readonly CompiledRule[];
  /** The CRM object an entity becomes (PersonAccount or Contact for a person, Account, Contact). */
  objectOf(entity: CrmEntity): string;
  /** S-360 -> CRM: the record to push, or why the contact cannot be pushed. */
  mapOutbound(contact: S360Contact): ContactMappingResult;
  /** CRM -> S-360: the contact the CRM record gives. Fields absent from the record leave S-360 unchanged. */
  mapInbound(record: CrmRecordInput, base?: S360Contact): InboundMappingResult;
}

/** A mapping that cannot be used; `issues` lists every problem, each naming where it is. */
export class MappingConfigError extends Error {
  override readonly name = 'MappingConfigError';
  constructor(
    readonly source: string,
    readonly issues: readonly string[],
  ) {
    super(`Invalid mapping (${source}):\n${issues.map((issue) => `  - ${issue}`).join('\n')}`);
  }
}

/** The CRM entity an S-360 contact becomes: structures are accounts, relays relays, other individuals persons. */
export function entityOf(contact: Pick<S360Contact, 'contactType' | 'role'>): CrmEntity {
  if (contact.contactType === 'STRUCTURE') return 'account';
  return contact.role === 'RELAY' ? 'relay' : 'person';
}

const allEntities: readonly CrmEntity[] = ['person', 'account', 'relay'];

function asScalar(value: unknown): MappedScalar {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : null;
}

function describe(value: MappedScalar): string {
  return typeof value === 'string' ? `"${value}"` : String(value);
}

/**
 * Compiles a validated mapping configuration. Every rule is checked — its S-360 paths against the model, its
 * transforms, invertibility when declared for both directions, and no two rules writing the same field — and all
 * problems are reported together in a {@link MappingConfigError}.
 */
export function compileMapping(config: MappingConfig, source = 'mapping'): MappingPlan {
  const issues: string[] = [];
  const rules: CompiledRule[] = [];

  config.rules.forEach((rule, index) => {
    const paths = Array.isArray(rule.s360) ? rule.s360 : [rule.s360];
    const label = `rules[${index}] (${rule.crm} <- ${paths.join(' + ')})`;
    const sources: S360Path[] = [];
    paths.forEach((path, pathIndex) => {
      try {
        sources.push(compileS360Path(path));
      } catch (err) {
        if (!(err instanceof S360PathError)) throw err;
        const where = Array.isArray(rule.s360)
          ? `rules[${index}].s360[${pathIndex}]`
          : `rules[${index}].s360`;
        issues.push(`${where}: ${err.message}`);
      }
    });
    if (sources.length !== paths.length) return;

    const singleLeaf = sources.length === 1 ? sources[0]?.leaf : undefined;
    const transforms: CompiledTransform[] = [];
    rule.transforms.forEach((transform, transformIndex) => {
      try {
        transforms.push(compileTransform(transform, singleLeaf));
      } catch (err) {
        if (!(err instanceof TransformConfigError)) throw err;
        issues.push(`rules[${index}].transforms[${transformIndex}]: ${err.message}`);
      }
    });
    if (transforms.length !== rule.transforms.length) return;

    if (rule.direction === 'both') {
      const labels = new Set(transforms.map((transform) => transform.label));
      if (labels.has('upper') && labels.has('lower')) {
        issues.push(
          `${label}: declared for both directions but not invertible: upper and lower together cannot read ` +
            'back what they sent; keep one of them',
        );
      }
      for (const transform of transforms) {
        if (transform.invertibility.kind === 'none') {
          issues.push(
            `${label}: declared for both directions but not invertible: ${transform.invertibility.why}; ` +
              'declare direction: outbound (or inbound)',
          );
        }
      }
    }
    if (rule.direction === 'inbound' && rule.onTooLong === 'truncate') {
      issues.push(`${label}: onTooLong applies to values sent to the CRM; an inbound rule does not send any`);
    }

    const type: CrmFieldType =
      rule.type ??
      (singleLeaf?.kind === 'boolean' && !transforms.some((transform) => transform.label === 'valueTable')
        ? 'boolean'
        : singleLeaf?.kind === 'number'
          ? 'number'
          : 'string');
    rules.push({
      index,
      label,
      crm: rule.crm,
      sources,
      separator: rule.separator,
      direction: rule.direction,
      entities: new Set(rule.entities),
      transforms,
      type,
      maxLength: rule.maxLength,
      onTooLong: rule.onTooLong,
      required: rule.required,
      owner: rule.owner,
    });
  });

  // No two rules may write the same CRM field (outbound) or S-360 attribute (inbound) of an entity. A clash is
  // reported once, with every entity it concerns.
  const clashes = new Map<
    string,
    { rule: CompiledRule; what: string; previous: CompiledRule; entities: CrmEntity[] }
  >();
  const clash = (rule: CompiledRule, what: string, previous: CompiledRule, entity: CrmEntity): void => {
    const key = `${rule.index} ${previous.index} ${what}`;
    const found = clashes.get(key);
    if (found) found.entities.push(entity);
    else clashes.set(key, { rule, what, previous, entities: [entity] });
  };
  for (const entity of allEntities) {
    const crmWriters = new Map<string, CompiledRule>();
    const s360Writers = new Map<string, CompiledRule>();
    for (const rule of rules) {
      if (!rule.entities.has(entity)) continue;
      if (rule.direction !== 'inbound') {
        const previous = crmWriters.get(rule.crm);
        if (previous) clash(rule, rule.crm, previous, entity);
        else crmWriters.set(rule.crm, rule);
      }
      if (rule.direction !== 'outbound') {
        for (const path of rule.sources) {
          const previous = s360Writers.get(path.text);
          if (previous) clash(rule, path.text, previous, entity);
          else s360Writers.set(path.text, rule);
        }
      }
    }
  }
  for (const { rule, what, previous, entities } of clashes.values()) {
    issues.push(`${rule.label}: ${what} (${entities.join(', ')}) is already written by ${previous.label}`);
  }

  if (issues.length > 0) throw new MappingConfigError(source, issues);
  return createPlan(config, rules);
}

function createPlan(config: MappingConfig, rules: CompiledRule[]): MappingPlan {
  const rulesFor = (direction: 'outbound' | 'inbound', entity: CrmEntity): CompiledRule[] =>
    rules.filter(
      (rule) =>
        rule.entities.has(entity) && rule.direction !== (direction === 'outbound' ? 'inbound' : 'outbound'),
    );
  const outboundRules: Record<CrmEntity, CompiledRule[]> = {
    person: rulesFor('outbound', 'person'),
    account: rulesFor('outbound', 'account'),
    relay: rulesFor('outbound', 'relay'),
  };
  const inboundRules: Record<CrmEntity, CompiledRule[]> = {
    person: rulesFor('inbound', 'person'),
    account: rulesFor('inbound', 'account'),
    relay: rulesFor('inbound', 'relay'),
  };
  const objects: Record<CrmEntity, string> = {
    person: config.personObject,
    account: config.accountObject,
    relay: config.relayObject,
  };

  function mapOutbound(contact: S360Contact): ContactMappingResult {
    const entity = entityOf(contact);
    const fields: Record<string, MappedScalar> = {};
    for (const rule of outboundRules[entity]) {
      let value: MappedScalar;
      if (rule.sources.length === 1) {
        value = asScalar((rule.sources[0] as S360Path).get(contact));
      } else {
        value = joinValues(
          rule.sources.map((source) => asScalar(source.get(contact))),
          rule.separator as string,
        );
      }
      try {
        for (const transform of rule.transforms) value = transform.outbound(value);
      } catch (err) {
        if (err instanceof TransformError)
          return { ok: false, field: rule.crm, reason: `${rule.crm}: ${err.message}` };
        throw err;
      }
      if (typeof value === 'string' && rule.maxLength !== undefined && value.length > rule.maxLength) {
        const length = characterLength(value);
        if (length > rule.maxLength) {
          if (rule.onTooLong === 'truncate') value = truncateCharacters(value, rule.maxLength);
          else {
            return {
              ok: false,
              field: rule.crm,
              reason: `${rule.crm} is ${length} characters long; at most ${rule.maxLength} are allowed`,
            };
          }
        }
      }
      if (value === null) {
        if (rule.required) {
          return {
            ok: false,
            field: rule.crm,
            reason: `${rule.crm} is required for ${article(entity)} (${rule.sources.map((source) => source.text).join(', ')} is empty)`,
          };
        }
      } else {
        const problem = typeProblem(rule.crm, rule.type, value);
        if (problem) return { ok: false, field: rule.crm, reason: problem };
      }
      fields[rule.crm] = value;
    }
    const record: CrmContactRecord = {
      contactNumber: contact.contactNumber,
      entity,
      object: objects[entity],
      fields,
      sourceModifiedAt: contact.lastModificationDate,
    };
    if (entity === 'relay' && contact.structureContactNumber) {
      record.accountContactNumber = contact.structureContactNumber;
    }
    return { ok: true, record };
  }

  function mapInbound(record: CrmRecordInput, base?: S360Contact): InboundMappingResult {
    const contact: Record<string, unknown> = base ? structuredClone(base) : {};
    const written: string[] = [];
    for (const rule of inboundRules[record.entity]) {
      if (!Object.hasOwn(record.fields, rule.crm)) continue;
      let value: MappedScalar | Skip = record.fields[rule.crm] ?? null;
      try {
        for (let index = rule.transforms.length - 1; index >= 0 && value !== Skip; index -= 1) {
          value = (rule.transforms[index] as CompiledTransform).inbound(value);
        }
      } catch (err) {
        if (err instanceof TransformError)
          return { ok: false, field: rule.crm, reason: `${rule.crm}: ${err.message}` };
        throw err;
      }
      if (value === Skip) continue;
      const values =
        rule.sources.length === 1
          ? [value]
          : splitValue(value, rule.separator as string, rule.sources.length);
      for (const [position, source] of rule.sources.entries()) {
        const part = values[position] ?? null;
        // The CRM has no value where S-360 requires one (an authorization's value): leave S-360 as it is.
        if (part === null && !source.nullable) continue;
        const problem = s360Problem(source, part);
        if (problem) return { ok: false, field: rule.crm, reason: `${rule.crm}: ${problem}` };
        source.set(contact, part);
        written.push(source.text);
      }
    }
    return { ok: true, contact, written };
  }

  return { config, rules, objectOf: (entity) => objects[entity], mapOutbound, mapInbound };
}

function article(entity: CrmEntity): string {
  return `${entity === 'account' ? 'an' : 'a'} ${entity}`;
}

/** Why S-360 would refuse `value` for the attribute at `path`, if it would. */
function s360Problem(path: S360Path, value: MappedScalar): string | undefined {
  if (value === null) return undefined;
  switch (path.leaf.kind) {
    case 'string':
      return typeof value === 'string' ? undefined : `${path.text} expects text, got ${describe(value)}`;
    case 'boolean':
      return typeof value === 'boolean'
        ? undefined
        : `${path.text} expects true or false, got ${describe(value)}`;
    case 'number':
      return typeof value === 'number' ? undefined : `${path.text} expects a number, got ${describe(value)}`;
    case 'enum':
      return typeof value === 'string' && path.leaf.values.includes(value)
        ? undefined
        : `${describe(value)} is not a value of ${path.text} (expected one of ${path.leaf.values.join(', ')})`;
  }
}
