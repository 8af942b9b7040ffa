import { z } from 'zod';
import { s360ContactSchema } from '../adapters/s360/s360-contact';

/**
 * S-360 attribute paths: how a mapping rule names a value by walking the S-360 API model, as in
 * `general.firstName`, `authorizations[code=EMAIL].value` or `addresses[main].addressLine1`.
 *
 * A path is parsed and checked against the model once, when the mapping is compiled; what remains is a getter and a
 * setter made of closures, so mapping a record does no parsing.
 *
 * Selectors on a list: `[main]` (the element whose `isMain` is true, else the first), `[n]` (the n-th, from 0),
 * `[field=value]` (the first element whose `field` equals `value`).
 */

/** The kind of value a path leads to, read from the model. */
export type S360LeafKind =
  { kind: 'string' } | { kind: 'boolean' } | { kind: 'number' } | { kind: 'enum'; values: readonly string[] };

/** A compiled path. */
export interface S360Path {
  /** The path as written. */
  readonly text: string;
  readonly leaf: S360LeafKind;
  /** S-360 accepts null (or no value) for the attribute itself. */
  readonly nullable: boolean;
  /** The value at the path; `null` when anything on the way is absent. */
  get(contact: unknown): unknown;
  /**
   * Sets the value, creating the objects and list elements on the way (a filtered element gets its key). Setting
   * null where something on the way is absent changes nothing: the value already reads as null there.
   */
  set(target: Record<string, unknown>, value: unknown): void;
}

/** A path that does not parse or does not exist in the S-360 model. */
export class S360PathError extends Error {
  override readonly name = 'S360PathError';
}

type Selector =
  { kind: 'main' } | { kind: 'index'; index: number } | { kind: 'filter'; field: string; value: string };

interface Segment {
  name: string;
  selector?: Selector;
}

const segmentPattern = /^([A-Za-z_][A-Za-z0-9_]*)(?:\[([^\]]*)\])?$/;

function parseSegments(text: string): Segment[] {
  if (text.trim() === '') throw new S360PathError('expected an attribute path such as general.firstName');
  return splitOutsideBrackets(text).map((raw) => {
    const match = segmentPattern.exec(raw);
    if (!match) {
      throw new S360PathError(
        `"${raw}" is not a path segment: expected a name, optionally followed by [main], [n] or [field=value]`,
      );
    }
    const name = match[1] as string;
    const selectorText = match[2];
    if (selectorText === undefined) return { name };
    return { name, selector: parseSelector(raw, selectorText) };
  });
}

function splitOutsideBrackets(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '[') depth += 1;
    if (char === ']') depth -= 1;
    if (char === '.' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts;
}

function parseSelector(segment: string, text: string): Selector {
  const trimmed = text.trim();
  if (trimmed === 'main') return { kind: 'main' };
  if (/^\d+$/.test(trimmed)) return { kind: 'index', index: Number(trimmed) };
  const equals = trimmed.indexOf('=');
  if (equals > 0) {
    const field = trimmed.slice(0, equals).trim();
    const value = trimmed.slice(equals + 1).trim();
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(field) && value !== '') return { kind: 'filter', field, value };
  }
  throw new S360PathError(`"${segment}": expected [main], [n] or [field=value] as selector, got [${text}]`);
}

/** Removes optional, nullable and default wrappers. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current: z.ZodType = schema;
  for (;;) {
    if (
      current instanceof z.ZodOptional ||
      current instanceof z.ZodNullable ||
      current instanceof z.ZodDefault
    ) {
      current = current.unwrap() as z.ZodType;
    } else {
      return current;
    }
  }
}

function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  const inner = unwrap(schema);
  return inner instanceof z.ZodObject ? (inner.shape as Record<string, z.ZodType>) : undefined;
}

/** Whether the attribute itself may be null or absent (an optional, nullable or defaulted schema). */
function acceptsNull(schema: z.ZodType): boolean {
  return schema instanceof z.ZodOptional || schema instanceof z.ZodNullable || schema instanceof z.ZodDefault;
}

function leafKind(schema: z.ZodType): S360LeafKind | undefined {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodString) return { kind: 'string' };
  if (inner instanceof z.ZodBoolean) return { kind: 'boolean' };
  if (inner instanceof z.ZodNumber) return { kind: 'number' };
  if (inner instanceof z.ZodEnum) return { kind: 'enum', values: inner.options.map(String) };
  return undefined;
}

/** Where a path segment reads from: a name in an object, then optionally one element of a list. */
type Step = (value: unknown) => unknown;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function selectElement(list: unknown, selector: Selector): unknown {
  if (!Array.isArray(list)) return undefined;
  switch (selector.kind) {
    case 'main':
      return list.find((element) => isRecord(element) && element.isMain === true) ?? list[0];
    case 'index':
      return list[selector.index];
    case 'filter':
      return list.find((element) => isRecord(element) && String(element[selector.field]) === selector.value);
  }
}

/** The element a setter writes into, created (with the selector's key) when missing. */
function elementForWrite(
  list: unknown[],
  selector: Selector,
  create: boolean,
): Record<string, unknown> | undefined {
  let element = selectElement(list, selector);
  if (isRecord(element)) return element;
  if (!create) return undefined;
  switch (selector.kind) {
    case 'main':
      element = { isMain: true };
      list.push(element);
      break;
    case 'index':
      while (list.length <= selector.index) list.push({});
      element = list[selector.index];
      break;
    case 'filter':
      element = { [selector.field]: selector.value };
      list.push(element);
      break;
  }
  return element as Record<string, unknown>;
}

/**
 * Parses `text` and checks it against the S-360 contact model (`s360ContactSchema`): every name must exist, a
 * selector must apply to a list of objects, a filter field must exist in the element, `[main]` needs `isMain`,
 * and the path must end on a plain value (text, yes/no, number or one of a fixed set).
 */
export function compileS360Path(text: string, model: z.ZodType = s360ContactSchema): S360Path {
  const segments = parseSegments(text);
  const steps: Step[] = [];
  /** Each returns the object the next segment is in; when `create` is false, undefined if it is absent. */
  const writers: Array<
    (parent: Record<string, unknown>, create: boolean) => Record<string, unknown> | undefined
  > = [];
  let schema: z.ZodType = model;
  let walked = '';
  let leaf: S360LeafKind | undefined;

  segments.forEach((segment, position) => {
    const shape = objectShape(schema);
    const here = walked === '' ? 'the contact' : walked;
    if (!shape) throw new S360PathError(`${here} is a plain value: nothing is under it`);
    const child = shape[segment.name];
    if (!child) {
      throw new S360PathError(
        `${here} has no attribute "${segment.name}" (known: ${Object.keys(shape).join(', ')})`,
      );
    }
    walked = walked === '' ? segment.name : `${walked}.${segment.name}`;
    schema = child;
    const name = segment.name;
    const isLast = position === segments.length - 1;

    if (segment.selector) {
      const list = unwrap(schema);
      if (!(list instanceof z.ZodArray)) {
        throw new S360PathError(
          `${walked} is not a list: [${selectorText(segment.selector)}] does not apply`,
        );
      }
      const elementShape = objectShape(list.element as z.ZodType);
      if (!elementShape) throw new S360PathError(`${walked} is a list of plain values: select a field of it`);
      const selector = segment.selector;
      if (selector.kind === 'main' && !elementShape.isMain) {
        throw new S360PathError(`${walked} has no main element (its elements have no isMain)`);
      }
      if (selector.kind === 'filter' && !elementShape[selector.field]) {
        throw new S360PathError(
          `${walked} elements have no "${selector.field}" to filter on (known: ${Object.keys(elementShape).join(', ')})`,
        );
      }
      walked = `${walked}[${selectorText(selector)}]`;
      schema = list.element as z.ZodType;
      steps.push((value) => selectElement(isRecord(value) ? value[name] : undefined, selector));
      writers.push((parent, create) => {
        let listValue = parent[name];
        if (!Array.isArray(listValue)) {
          if (!create) return undefined;
          listValue = [];
          parent[name] = listValue;
        }
        return elementForWrite(listValue as unknown[], selector, create);
      });
      if (isLast) throw new S360PathError(`${walked} is an element of a list: name one of its fields`);
      return;
    }

    steps.push((value) => (isRecord(value) ? value[name] : undefined));
    if (isLast) {
      leaf = leafKind(schema);
      if (!leaf) {
        const inner = unwrap(schema);
        throw new S360PathError(
          inner instanceof z.ZodArray
            ? `${walked} is a list: select an element with [main], [n] or [field=value]`
            : `${walked} is a group of attributes: name one of them (${Object.keys(objectShape(schema) ?? {}).join(', ')})`,
        );
      }
    } else {
      writers.push((parent, create) => {
        const existing = parent[name];
        if (isRecord(existing)) return existing;
        if (!create) return undefined;
        const created: Record<string, unknown> = {};
        parent[name] = created;
        return created;
      });
    }
  });

  const lastName = (segments[segments.length - 1] as Segment).name;
  const get = composeGetter(steps);
  return {
    text,
    leaf: leaf as S360LeafKind,
    nullable: acceptsNull(schema),
    get,
    set(target, value) {
      const create = value !== null && value !== undefined;
      let parent: Record<string, unknown> | undefined = target;
      for (const write of writers) {
        parent = write(parent, create);
        if (!parent) return;
      }
      parent[lastName] = value;
    },
  };
}

function composeGetter(steps: Step[]): (contact: unknown) => unknown {
  return (contact) => {
    let value: unknown = contact;
    for (const step of steps) {
      value = step(value);
      if (value === undefined || value === null) return null;
    }
    return value;
  };
}

function selectorText(selector: Selector): string {
  switch (selector.kind) {
    case 'main':
      return 'main';
    case 'index':
      return String(selector.index);
    case 'filter':
      return `${selector.field}=${selector.value}`;
  }
}
