/**
 * The CRM sandbox's record search, `GET /query?q=<filter>`: a conjunction of field comparisons, in the spirit of a
 * SOQL `WHERE` clause, e.g. `Renewal__c = true AND Season__c != '2025'`.
 *
 * - a comparison is `<Field> = <value>` or `<Field> != <value>`, joined by `AND` (any case);
 * - a value is `'text'` (a quote inside doubled: `'l''Odéon'`), a number, `true`, `false` or `null`;
 * - a field a record does not have is null; `entity` compares the record's kind (`'person'`, `'account'`,
 *   `'relay'`) unless the record has a field of that name.
 */

export type QueryValue = string | number | boolean | null;

export interface QueryCondition {
  field: string;
  operator: '=' | '!=';
  value: QueryValue;
}

/** A filter that cannot be read: the message says where and what was expected. */
export class RecordQueryError extends Error {
  override readonly name = 'RecordQueryError';
}

interface Token {
  kind: 'string' | 'operator' | 'word' | 'number';
  text: string;
}

const tokenPattern = /\s*(?:('(?:[^']|'')*')|(!=|=)|([A-Za-z_][A-Za-z0-9_.]*)|(-?\d+(?:\.\d+)?))/y;

/** The conditions of a filter; an empty filter matches every record. */
export function parseRecordQuery(text: string): QueryCondition[] {
  let position = 0;
  function next(): Token | undefined {
    tokenPattern.lastIndex = position;
    const match = tokenPattern.exec(text);
    if (!match) return undefined;
    position = tokenPattern.lastIndex;
    if (match[1] !== undefined) return { kind: 'string', text: match[1] };
    if (match[2] !== undefined) return { kind: 'operator', text: match[2] };
    if (match[3] !== undefined) return { kind: 'word', text: match[3] };
    return { kind: 'number', text: match[4] as string };
  }
  function fail(expected: string, from: number): never {
    const rest = text.slice(from).trimStart();
    const at = text.length - rest.length;
    throw new RecordQueryError(
      `query: expected ${expected} at character ${at + 1}${rest ? `, found "${rest.slice(0, 20)}"` : ''}`,
    );
  }
  function expect(kind: Token['kind'], expected: string): Token {
    const at = position;
    const found = next();
    if (found?.kind !== kind) fail(expected, at);
    return found;
  }

  const conditions: QueryCondition[] = [];
  if (text.trim() === '') return conditions;
  for (;;) {
    const field = expect('word', 'a field name').text;
    const operator = expect('operator', '= or !=').text as QueryCondition['operator'];
    const at = position;
    const value = literal(next());
    if (value === undefined) fail("a value ('text', a number, true, false or null)", at);
    conditions.push({ field, operator, value });
    if (text.slice(position).trim() === '') return conditions;
    const andAt = position;
    if (next()?.text.toUpperCase() !== 'AND') fail('AND or the end of the query', andAt);
  }
}

/** The value a token stands for; undefined when it is not a value. */
function literal(token: Token | undefined): QueryValue | undefined {
  if (token?.kind === 'string') return token.text.slice(1, -1).replace(/''/g, "'");
  if (token?.kind === 'number') return Number(token.text);
  if (token?.kind === 'word') {
    const word = token.text.toLowerCase();
    if (word === 'true') return true;
    if (word === 'false') return false;
    if (word === 'null') return null;
  }
  return undefined;
}

/** Whether a record (its kind and fields) meets every condition. */
export function matchesRecordQuery(
  conditions: readonly QueryCondition[],
  record: { entity: string; fields: Readonly<Record<string, QueryValue | undefined>> },
): boolean {
  return conditions.every((condition) => {
    const actual =
      condition.field === 'entity' && !Object.hasOwn(record.fields, 'entity')
        ? record.entity
        : (record.fields[condition.field] ?? null);
    return (actual === condition.value) === (condition.operator === '=');
  });
}
