import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { S360ContactUpdate } from '../adapters/s360/s360-client';
import { contactNumberSchema } from '../adapters/s360/s360-contact';

/**
 * The mass update file: a comma-separated file (RFC 4180: quoted fields, doubled quotes, CRLF or LF line ends,
 * line breaks inside quoted fields, an optional UTF-8 BOM) whose first line names the columns. Each data row is
 * one `saveIndividualContactData` update.
 *
 * The columns, a fixed set:
 * - `contactNumber` (required): the S-360 contact to update, 1 to 20 digits;
 * - `firstName`, `lastName`: the contact's general data;
 * - `email`, `phone`, `mobile`: the contact's communication means (`email` must look like an e-mail address);
 * - `authorization:<CODE>`: an opt-in, one of true/false/yes/no/1/0 (any case);
 * - `criterion:<CODE>`: a criterion value, as text.
 *
 * Values are trimmed. An empty value leaves the field as it is in S-360 (a mass update cannot clear a field).
 * Line numbers are those an editor shows: the header is line 1, and a row whose quoted value spans several lines
 * is numbered by its first line. Empty lines are skipped.
 *
 * {@link checkUpdateFile} refuses a malformed file before anything is sent; {@link readUpdates} then streams it
 * page by page (never holding more than a page in memory), parking bad rows with their line and reason.
 */

/** A file that cannot be used at all: the message says why, for the person who gave it. */
export class UpdateFileError extends Error {
  override readonly name = 'UpdateFileError';
}

export type UpdateColumn =
  | { name: string; kind: 'contactNumber' | 'firstName' | 'lastName' | 'email' | 'phone' | 'mobile' }
  | { name: string; kind: 'authorization' | 'criterion'; code: string };

export interface UpdateRow {
  /** The line the row starts on (header = line 1). */
  line: number;
  update: S360ContactUpdate;
}

export interface UpdateProblem {
  line: number;
  /** When the row has a valid one. */
  contactNumber?: string;
  reason: string;
}

export interface UpdatePage {
  rows: UpdateRow[];
  problems: UpdateProblem[];
  /** Where the next page starts (pass it as `fromLine`); null once the file is read to its end. */
  nextLine: number | null;
}

export interface ReadUpdatesOptions {
  /** The line to start at (rows starting before it are skipped); default 2, the first data line. */
  fromLine?: number;
  /** The most data rows (good or bad) read in this page. */
  maxRows: number;
}

const simpleColumns = ['contactNumber', 'firstName', 'lastName', 'email', 'phone', 'mobile'] as const;
const codePattern = /^[A-Za-z0-9_.-]+$/;
const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@.]+$/;
const booleanValues: Record<string, boolean> = {
  true: true,
  yes: true,
  '1': true,
  false: false,
  no: false,
  '0': false,
};
const knownColumns = `${simpleColumns.join(', ')}, authorization:<CODE>, criterion:<CODE>`;

/**
 * Reads the header (and the first data row) of an update file and returns its columns, or throws an
 * {@link UpdateFileError} saying what is wrong with it.
 */
export async function checkUpdateFile(path: string): Promise<UpdateColumn[]> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UpdateFileError(
      code === 'ENOENT' ? `${path}: no such file` : `${path}: cannot be read (${String(err)})`,
    );
  }
  if (size === 0) throw new UpdateFileError(`${path}: the file is empty`);

  const records: CsvRecord[] = [];
  for await (const record of csvRecords(path, 0, 1)) {
    records.push(record);
    if (records.length === 2) break;
  }
  const header = records[0];
  if (!header) throw new UpdateFileError(`${path}: the file is empty`);
  if (header.line !== 1) {
    throw new UpdateFileError(
      `${path}: line 1 is empty; the first line must be the header naming the columns`,
    );
  }
  if (header.error) throw new UpdateFileError(`${path}: line 1, the header: ${header.error}`);
  const columns = parseHeader(path, header.fields);

  const first = records[1];
  if (first && first.fields.length !== columns.length) {
    const delimiter = otherDelimiter(first.fields.join(','));
    if (first.fields.length === 1 && delimiter) {
      throw new UpdateFileError(
        `${path}: line ${first.line} is a single value containing ${delimiter.name}, where the header has ` +
          `${columns.length} columns: the rows seem to be separated by ${delimiter.name}; ` +
          'the file must be comma-separated',
      );
    }
  }
  return columns;
}

/**
 * Reads at most `maxRows` data rows from `fromLine` on, streaming the file. Good rows become updates; bad rows
 * become problems with their line and reason. Resume with `fromLine: nextLine` to read the next page.
 */
export async function readUpdates(path: string, options: ReadUpdatesOptions): Promise<UpdatePage> {
  const fromLine = options.fromLine ?? 2;
  if (!Number.isInteger(fromLine) || fromLine < 2) {
    throw new RangeError(`fromLine must be an integer from 2 (the first data line), got ${fromLine}`);
  }
  if (!Number.isInteger(options.maxRows) || options.maxRows < 1) {
    throw new RangeError(`maxRows must be a positive integer, got ${options.maxRows}`);
  }
  const columns = await checkUpdateFile(path);
  const fileKey = await cursorFileKey(path);
  const cursor = cursors.get(`${fileKey}\u0000${fromLine}`);

  const page: UpdatePage = { rows: [], problems: [], nextLine: null };
  let read = 0;
  let last: CsvRecord | undefined;
  for await (const record of csvRecords(path, cursor ?? 0, cursor === undefined ? 1 : fromLine)) {
    if (record.line === 1 || record.line < fromLine) continue;
    if (read === options.maxRows) {
      // There is more: the next page starts right after the last row read.
      if (last) {
        page.nextLine = last.nextLine;
        rememberCursor(`${fileKey}\u0000${last.nextLine}`, last.endByte);
      }
      break;
    }
    read += 1;
    last = record;
    const row = toUpdate(columns, record);
    if ('reason' in row) page.problems.push(row);
    else page.rows.push(row);
  }
  return page;
}

/**
 * The number of data rows (good or bad) of an update file, read once from start to end, streaming: constant
 * memory whatever its size. Check the file first ({@link checkUpdateFile}).
 */
export async function countUpdateRows(path: string): Promise<number> {
  let count = 0;
  for await (const record of csvRecords(path, 0, 1)) if (record.line > 1) count += 1;
  return count;
}

function parseHeader(path: string, names: string[]): UpdateColumn[] {
  if (names.length === 1) {
    const delimiter = otherDelimiter(names[0] ?? '');
    if (delimiter) {
      throw new UpdateFileError(
        `${path}: the header is a single column, "${names[0]}", containing ${delimiter.name}: the file seems ` +
          `to be separated by ${delimiter.name}; it must be comma-separated`,
      );
    }
  }
  const columns: UpdateColumn[] = [];
  const seen = new Set<string>();
  const unknown: string[] = [];
  names.forEach((raw, index) => {
    const name = raw.trim();
    if (name === '') {
      throw new UpdateFileError(`${path}: column ${index + 1} of the header has no name`);
    }
    if (seen.has(name)) throw new UpdateFileError(`${path}: the header names column "${name}" twice`);
    seen.add(name);
    const column = toColumn(name);
    if (column) columns.push(column);
    else unknown.push(`"${name}"`);
  });
  if (unknown.length > 0) {
    throw new UpdateFileError(
      `${path}: unknown column${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; ` +
        `the columns are: ${knownColumns}`,
    );
  }
  if (!seen.has('contactNumber')) {
    throw new UpdateFileError(`${path}: the header has no contactNumber column (the contact to update)`);
  }
  if (columns.length === 1) {
    throw new UpdateFileError(`${path}: the header names no field to update besides contactNumber`);
  }
  return columns;
}

function toColumn(name: string): UpdateColumn | undefined {
  if ((simpleColumns as readonly string[]).includes(name)) {
    return { name, kind: name as (typeof simpleColumns)[number] };
  }
  const match = /^(authorization|criterion):(.*)$/.exec(name);
  if (match && codePattern.test(match[2] ?? '')) {
    return { name, kind: match[1] as 'authorization' | 'criterion', code: match[2] ?? '' };
  }
  return undefined;
}

function otherDelimiter(text: string): { name: string } | undefined {
  if (text.includes(';')) return { name: '";" (semicolons)' };
  if (text.includes('\t')) return { name: 'tabs' };
  if (text.includes('|')) return { name: '"|" (pipes)' };
  return undefined;
}

function toUpdate(columns: UpdateColumn[], record: CsvRecord): UpdateRow | UpdateProblem {
  const contactIndex = columns.findIndex((column) => column.kind === 'contactNumber');
  const rawNumber = (record.fields[contactIndex] ?? '').trim();
  const validNumber = contactNumberSchema.safeParse(rawNumber).success ? rawNumber : undefined;
  const problem = (reason: string): UpdateProblem => ({
    line: record.line,
    ...(validNumber !== undefined ? { contactNumber: validNumber } : {}),
    reason,
  });

  if (record.error) return problem(record.error);
  if (record.fields.length !== columns.length) {
    return problem(
      `the row has ${record.fields.length} field${record.fields.length === 1 ? '' : 's'} where the header has ` +
        `${columns.length} columns (a value containing a comma must be quoted)`,
    );
  }

  const reasons: string[] = [];
  const update: S360ContactUpdate = { contactNumber: rawNumber };
  let values = 0;
  columns.forEach((column, index) => {
    const value = (record.fields[index] ?? '').trim();
    if (column.kind === 'contactNumber') {
      if (value === '') reasons.push('contactNumber is empty');
      else if (validNumber === undefined) {
        const parsed = contactNumberSchema.safeParse(value);
        reasons.push(`contactNumber "${value}": ${parsed.error?.issues[0]?.message ?? 'invalid'}`);
      }
      return;
    }
    if (value === '') return;
    values += 1;
    switch (column.kind) {
      case 'firstName':
      case 'lastName':
        update.general = { ...update.general, [column.kind]: value };
        break;
      case 'email':
        if (!emailPattern.test(value)) reasons.push(`email "${value}": not an e-mail address`);
        else update.comMeans = { ...update.comMeans, email: value };
        break;
      case 'phone':
      case 'mobile':
        update.comMeans = { ...update.comMeans, [column.kind]: value };
        break;
      case 'authorization': {
        const flag = booleanValues[value.toLowerCase()];
        if (flag === undefined) {
          reasons.push(`${column.name} "${value}": expected true/false, yes/no or 1/0`);
        } else {
          update.authorizations = [...(update.authorizations ?? []), { code: column.code, value: flag }];
        }
        break;
      }
      case 'criterion':
        update.criteria = [...(update.criteria ?? []), { code: column.code, value }];
        break;
    }
  });
  if (reasons.length > 0) return problem(reasons.join('; '));
  if (values === 0) return problem('nothing to update: every column but contactNumber is empty');
  return { line: record.line, update };
}

// Where a page ended, so that the next page (of the same unchanged file) starts there instead of parsing the file
// from its start again. Kept per process and bounded; a miss (another worker, a restart) only costs a re-read.
const maxCursors = 256;
const cursors = new Map<string, number>();

function rememberCursor(key: string, byte: number): void {
  cursors.delete(key);
  cursors.set(key, byte);
  if (cursors.size > maxCursors) {
    const oldest = cursors.keys().next().value;
    if (oldest !== undefined) cursors.delete(oldest);
  }
}

async function cursorFileKey(path: string): Promise<string> {
  const info = await stat(path);
  return [resolve(path), info.dev, info.ino, info.size, info.mtimeMs].join('\u0000');
}

// ---------------------------------------------------------------------------------------------------------------
// A streaming RFC 4180 parser working on bytes: the delimiters (comma, quote, CR, LF) are ASCII and never part of
// a multi-byte UTF-8 character, so values are decoded whole and byte positions stay exact.

interface CsvRecord {
  /** The line the record starts on. */
  line: number;
  fields: string[];
  /** The line right after the record. */
  nextLine: number;
  /** The byte right after the record's line end. */
  endByte: number;
  /** Why the record is not well formed. */
  error?: string;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const CR = 0x0d;
const LF = 0x0a;
const crBuffer = Buffer.from('\r');

/** The records of the file from `startByte` (a record start, on line `startLine`); empty lines are skipped. */
async function* csvRecords(path: string, startByte: number, startLine: number): AsyncGenerator<CsvRecord> {
  const parser = new CsvParser(startLine, startByte);
  const stream = createReadStream(path, { start: startByte });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      yield* parser.push(chunk);
    }
    yield* parser.end();
  } finally {
    stream.destroy();
  }
}

type ParserState = 'fieldStart' | 'unquoted' | 'quoted' | 'quoteInQuoted';

class CsvParser {
  private state: ParserState = 'fieldStart';
  private line: number;
  private recordLine: number;
  private fields: string[] = [];
  private pieces: Buffer[] = [];
  private quotedRecord = false;
  private error: string | undefined;
  private pendingCr = false;
  private offset: number;
  private atStart: boolean;

  constructor(startLine: number, startByte: number) {
    this.line = startLine;
    this.recordLine = startLine;
    this.offset = startByte;
    this.atStart = startByte === 0;
  }

  /** The records ending in this chunk, parsed as they are taken: a reader that stops early parses no further. */
  *push(chunk: Buffer): Generator<CsvRecord> {
    let i = 0;
    if (this.atStart) {
      this.atStart = false;
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = 3;
    }
    let segment = -1;
    const flush = (end: number): void => {
      if (segment >= 0 && end > segment) this.pieces.push(chunk.subarray(segment, end));
      segment = -1;
    };
    for (; i < chunk.length; i++) {
      const c = chunk[i] as number;
      if (this.pendingCr) {
        this.pendingCr = false;
        if (c !== LF) {
          // A lone CR outside quotes: kept as data.
          this.pieces.push(crBuffer);
          if (this.state === 'fieldStart') this.state = 'unquoted';
          else if (this.state === 'quoteInQuoted') this.fail('text after a closing quote');
        }
      }
      switch (this.state) {
        case 'quoted':
          if (c === QUOTE) {
            flush(i);
            this.state = 'quoteInQuoted';
          } else {
            if (c === LF) this.line += 1;
            if (segment < 0) segment = i;
          }
          continue;
        case 'quoteInQuoted':
          if (c === QUOTE) {
            // A doubled quote: one literal quote, still inside the quoted value.
            segment = i;
            this.state = 'quoted';
            continue;
          }
          break;
        case 'fieldStart':
          if (c === QUOTE) {
            this.state = 'quoted';
            this.quotedRecord = true;
            continue;
          }
          break;
        case 'unquoted':
          break;
      }
      // Outside quotes.
      if (c === COMMA || c === LF) {
        if (segment >= 0 && this.pieces.length === 0) {
          // The common case: the whole value in this chunk, decoded at once.
          this.endField(chunk.toString('utf8', segment, i));
          segment = -1;
        } else {
          flush(i);
          this.endField();
        }
        if (c === LF) {
          this.line += 1;
          const record = this.endRecord(this.offset + i + 1);
          if (record) yield record;
        }
      } else if (c === CR) {
        flush(i);
        this.pendingCr = true;
      } else {
        if (c === QUOTE)
          this.fail('a quote inside an unquoted value (quote the whole value and double its quotes)');
        else if (this.state === 'quoteInQuoted') this.fail('text after a closing quote');
        this.state = 'unquoted';
        if (segment < 0) segment = i;
      }
    }
    flush(chunk.length);
    this.offset += chunk.length;
  }

  end(): CsvRecord[] {
    this.pendingCr = false;
    if (this.state === 'quoted') {
      this.fail(`a quoted value opened on line ${this.recordLine} is not closed before the end of the file`);
    }
    this.endField();
    const record = this.endRecord(this.offset);
    return record ? [record] : [];
  }

  private fail(reason: string): void {
    this.error ??= reason;
  }

  private endField(decoded?: string): void {
    const [only] = this.pieces;
    const value =
      decoded !== undefined
        ? decoded
        : this.pieces.length === 0
          ? ''
          : this.pieces.length === 1 && only
            ? only.toString('utf8')
            : Buffer.concat(this.pieces).toString('utf8');
    this.fields.push(value);
    this.pieces = [];
    this.state = 'fieldStart';
  }

  /** Ends the record whose last field was just ended. */
  private endRecord(endByte: number): CsvRecord | undefined {
    const blank = this.fields.length === 1 && this.fields[0] === '' && !this.quotedRecord;
    const record: CsvRecord = {
      line: this.recordLine,
      fields: this.fields,
      nextLine: this.line,
      endByte,
      ...(this.error !== undefined ? { error: this.error } : {}),
    };
    this.fields = [];
    this.quotedRecord = false;
    this.error = undefined;
    this.recordLine = this.line;
    return blank ? undefined : record;
  }
}
