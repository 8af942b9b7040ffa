import type { MappedScalar, TransformConfig } from './mapping-config-schema';
import type { S360LeafKind } from './s360-paths';

/** Returned by an inbound transform to leave the S-360 attribute as it is. */
export const Skip: unique symbol = Symbol('skip');
export type Skip = typeof Skip;

/** How a transform reads back. */
export type Invertibility =
  /** inbound(outbound(x)) is x. */
  | { kind: 'exact' }
  /** inbound(outbound(x)) is x for values already in the normal form the transform produces (trim, case). */
  | { kind: 'normalizing' }
  /** Cannot be read back: refused in a rule declared for both directions. */
  | { kind: 'none'; why: string };

/** A transform, compiled once with its options. */
export interface CompiledTransform {
  /** As written, for messages and summaries. */
  readonly label: string;
  readonly invertibility: Invertibility;
  /** S-360 -> CRM. Throws {@link TransformError} when the value cannot be transformed. */
  outbound(value: MappedScalar): MappedScalar;
  /** CRM -> S-360. */
  inbound(value: MappedScalar): MappedScalar | Skip;
}

/** A value a transform cannot handle; the rule's CRM field is named by the caller. */
export class TransformError extends Error {
  override readonly name = 'TransformError';
}

/** An option of a transform that cannot work (reported at load with the rule). */
export class TransformConfigError extends Error {
  override readonly name = 'TransformConfigError';
}

const exact: Invertibility = { kind: 'exact' };
const normalizing: Invertibility = { kind: 'normalizing' };

function describe(value: MappedScalar): string {
  return typeof value === 'string' ? `"${value}"` : String(value);
}

function trim(value: MappedScalar): MappedScalar {
  if (typeof value !== 'string') return value;
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed;
}

const trimTransform: CompiledTransform = {
  label: 'trim',
  invertibility: normalizing,
  outbound: trim,
  inbound: trim,
};

function caseTransform(label: 'upper' | 'lower'): CompiledTransform {
  const change = (value: MappedScalar): MappedScalar =>
    typeof value === 'string' ? (label === 'upper' ? value.toUpperCase() : value.toLowerCase()) : value;
  return { label, invertibility: normalizing, outbound: change, inbound: change };
}

function invert(value: MappedScalar): MappedScalar {
  if (value === null) return null;
  if (typeof value !== 'boolean')
    throw new TransformError(`invert expects yes/no (true or false), got ${describe(value)}`);
  return !value;
}

const invertTransform: CompiledTransform = {
  label: 'invert',
  invertibility: exact,
  outbound: invert,
  inbound: invert,
};

function valueTableTransform(
  options: Extract<TransformConfig, { valueTable: unknown }>['valueTable'],
  leaf: S360LeafKind | undefined,
): CompiledTransform {
  const entries = Object.entries(options.values);
  if (leaf?.kind === 'enum') {
    const known = new Set(leaf.values);
    const unknown = [
      ...entries.map(([s360]) => s360),
      ...options.neverSendBack,
      ...(options.defaultS360 === 'skip' ? [] : [options.defaultS360]),
    ].filter((value) => !known.has(value));
    if (unknown.length > 0) {
      throw new TransformConfigError(
        `valueTable: ${unknown.map((value) => `"${value}"`).join(', ')} is not an S-360 value of this attribute (expected one of ${leaf.values.join(', ')})`,
      );
    }
  }
  const toCrm = new Map<string, MappedScalar>(entries);
  const toS360 = new Map<string, string>();
  const clashes: string[] = [];
  for (const [s360, crm] of entries) {
    const key = JSON.stringify(crm);
    const previous = toS360.get(key);
    if (previous !== undefined) clashes.push(`${previous} and ${s360} both map to ${describe(crm)}`);
    else toS360.set(key, s360);
  }
  if (toS360.has(JSON.stringify(options.defaultCrm))) {
    clashes.push(
      `defaultCrm ${describe(options.defaultCrm)} is also the value of an S-360 value in the table`,
    );
  }
  const neverSendBack = new Set(options.neverSendBack);
  // An S-360 value outside the table goes out as defaultCrm and would come back as defaultS360, not as itself.
  const uncovered =
    leaf?.kind === 'enum'
      ? leaf.values.filter((value) => !toCrm.has(value) && !neverSendBack.has(value))
      : ['*'];
  if (
    options.defaultCrm !== null &&
    options.defaultS360 !== 'skip' &&
    !neverSendBack.has(options.defaultS360) &&
    uncovered.length > 0
  ) {
    clashes.push(
      `an S-360 value outside the table${leaf?.kind === 'enum' ? ` (${uncovered.join(', ')})` : ''} goes out as ` +
        `${describe(options.defaultCrm)} and comes back as "${options.defaultS360}": cover every value, or use ` +
        'defaultS360: skip',
    );
  }

  return {
    label: 'valueTable',
    invertibility:
      clashes.length === 0
        ? exact
        : { kind: 'none', why: `the valueTable cannot be read back: ${clashes.join('; ')}` },
    outbound(value) {
      if (value === null) return null;
      const mapped = toCrm.get(String(value));
      return mapped === undefined ? options.defaultCrm : mapped;
    },
    inbound(value) {
      // null is ambiguous when it is also what unknown S-360 values become: leave S-360 as it is then.
      if (value === null) return options.defaultCrm === null ? Skip : null;
      const s360 = toS360.get(JSON.stringify(value)) ?? options.defaultS360;
      return s360 === 'skip' || neverSendBack.has(s360) ? Skip : s360;
    },
  };
}

const datePattern = /^(\d{4})-(\d{2})-(\d{2})$/;
const dateTimePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/;

/** Is `text` a real calendar date written YYYY-MM-DD? */
export function isCalendarDate(text: string): boolean {
  const match = datePattern.exec(text);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  // setUTCFullYear, not Date.UTC: Date.UTC reads the years 0 to 99 as 1900 to 1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

function dateTransform(timeZone: string): CompiledTransform {
  const format = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  });
  /** A calendar date stays as it is; a date-time becomes the day it falls on in `timeZone`. */
  const toDate = (value: MappedScalar): MappedScalar => {
    if (value === null) return null;
    if (typeof value !== 'string')
      throw new TransformError(`date expects a date as text, got ${describe(value)}`);
    const text = value.trim();
    if (text === '') return null;
    if (isCalendarDate(text)) return text;
    // Date parses 2023-02-30T10:00Z as 2 March: the day must exist.
    if (dateTimePattern.test(text) && isCalendarDate(text.slice(0, 10))) {
      const instant = new Date(text);
      if (!Number.isNaN(instant.getTime())) return format.format(instant);
    }
    throw new TransformError(`${describe(value)} is not a date (YYYY-MM-DD) or a date-time with a time zone`);
  };
  return { label: `date (${timeZone})`, invertibility: exact, outbound: toDate, inbound: toDate };
}

/**
 * Compiles one transform of a rule. `leaf` is the kind of the S-360 attribute when the rule has a single path
 * (a value table on an enumeration is checked against its values).
 */
export function compileTransform(config: TransformConfig, leaf: S360LeafKind | undefined): CompiledTransform {
  if (typeof config === 'string') {
    switch (config) {
      case 'trim':
        return trimTransform;
      case 'upper':
      case 'lower':
        return caseTransform(config);
      case 'invert':
        return invertTransform;
    }
  }
  if ('valueTable' in config) return valueTableTransform(config.valueTable, leaf);
  if ('date' in config) return dateTransform(config.date.timeZone);
  if ('constant' in config) {
    const constant = config.constant;
    return {
      label: `constant ${describe(constant)}`,
      invertibility: { kind: 'none', why: `constant ${describe(constant)} cannot be read back` },
      outbound: () => constant,
      inbound: () => Skip,
    };
  }
  const fallback = config.default;
  return {
    label: `default ${describe(fallback)}`,
    invertibility: {
      kind: 'none',
      why: `default ${describe(fallback)} cannot be told apart from a real ${describe(fallback)} when read back`,
    },
    outbound: (value) => (value === null ? fallback : value),
    inbound: (value) => value,
  };
}

/**
 * Joins the values of several S-360 attributes into one CRM text, keeping their positions: empty values in the
 * middle leave an empty line, trailing empty values are dropped, and nothing at all gives null.
 */
export function joinValues(values: readonly MappedScalar[], separator: string): MappedScalar {
  const parts = values.map((value) => (value === null || String(value).trim() === '' ? '' : String(value)));
  let end = parts.length;
  while (end > 0 && parts[end - 1] === '') end -= 1;
  return end === 0 ? null : parts.slice(0, end).join(separator);
}

/** The inverse of {@link joinValues}: extra parts stay joined in the last attribute, so nothing is lost. */
export function splitValue(value: MappedScalar, separator: string, count: number): MappedScalar[] {
  const result: MappedScalar[] = new Array<MappedScalar>(count).fill(null);
  if (value === null) return result;
  const parts = String(value).split(separator);
  for (let index = 0; index < count; index += 1) {
    const part = index === count - 1 ? parts.slice(index).join(separator) : parts[index];
    result[index] = part === undefined || part === '' ? null : part;
  }
  return result;
}
