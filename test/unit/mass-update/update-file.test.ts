import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  checkUpdateFile,
  countUpdateRows,
  readUpdates,
  UpdateFileError,
  type UpdatePage,
} from '../../../src/mass-update/update-file';
import { rejection } from '../../helpers/rejection';

let dir: string;
let fileCount = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crm-sync-update-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(content: string | Buffer): Promise<string> {
  fileCount += 1;
  const path = join(dir, `updates-${fileCount}.csv`);
  await writeFile(path, content);
  return path;
}

/** Writes a file of generated rows through a stream, a thousand rows at a time, never holding it whole. */
async function generatedFile(rows: number): Promise<string> {
  fileCount += 1;
  const path = join(dir, `generated-${fileCount}.csv`);
  const out = createWriteStream(path);
  const finished = new Promise<void>((resolve, reject) => out.once('finish', resolve).once('error', reject));
  const write = async (text: string): Promise<void> => {
    if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  };
  await write('contactNumber,firstName,authorization:RENEWAL\n');
  for (let start = 1; start <= rows; start += 1000) {
    let block = '';
    for (let i = start; i < start + 1000 && i <= rows; i++) {
      block += `${String(i).padStart(8, '0')},"Name ${i}, Jr",${i % 2 === 0 ? 'yes' : 'no'}\n`;
    }
    await write(block);
  }
  out.end();
  await finished;
  return path;
}

async function refusal(content: string): Promise<string> {
  const err = await rejection(checkUpdateFile(await file(content)));
  expect(err).toBeInstanceOf(UpdateFileError);
  return (err as Error).message;
}

describe('checkUpdateFile', () => {
  it('returns the columns of a good header', async () => {
    const path = await file(
      'contactNumber,firstName,lastName,email,phone,mobile,authorization:EMAIL,criterion:SEGMENT\n1,a,b,,,,,\n',
    );
    await expect(checkUpdateFile(path)).resolves.toEqual([
      { name: 'contactNumber', kind: 'contactNumber' },
      { name: 'firstName', kind: 'firstName' },
      { name: 'lastName', kind: 'lastName' },
      { name: 'email', kind: 'email' },
      { name: 'phone', kind: 'phone' },
      { name: 'mobile', kind: 'mobile' },
      { name: 'authorization:EMAIL', kind: 'authorization', code: 'EMAIL' },
      { name: 'criterion:SEGMENT', kind: 'criterion', code: 'SEGMENT' },
    ]);
  });

  it('accepts a header without data rows', async () => {
    await expect(checkUpdateFile(await file('contactNumber,email\r\n'))).resolves.toHaveLength(2);
  });

  it('refuses a missing file', async () => {
    const err = await rejection(checkUpdateFile(join(dir, 'nowhere.csv')));
    expect(err).toBeInstanceOf(UpdateFileError);
    expect((err as Error).message).toMatch(/nowhere\.csv: no such file/);
  });

  it('refuses an empty file, or one holding only a BOM', async () => {
    expect(await refusal('')).toMatch(/the file is empty/);
    expect(await refusal('\ufeff')).toMatch(/the file is empty/);
  });

  it('refuses a file whose first line is empty', async () => {
    expect(await refusal('\ncontactNumber,email\n')).toMatch(
      /line 1 is empty; the first line must be the header/,
    );
  });

  it('refuses a header without contactNumber', async () => {
    expect(await refusal('firstName,email\nA,a@b.ch\n')).toMatch(/the header has no contactNumber column/);
  });

  it('refuses a header with nothing to update', async () => {
    expect(await refusal('contactNumber\n1\n')).toMatch(/names no field to update besides contactNumber/);
  });

  it('refuses a header written with another delimiter', async () => {
    expect(await refusal('contactNumber;firstName\n1;A\n')).toMatch(
      /the header is a single column, "contactNumber;firstName", containing ";" \(semicolons\).*must be comma-separated/,
    );
    expect(await refusal('contactNumber\tfirstName\n1\tA\n')).toMatch(/single column.*containing tabs/);
  });

  it('refuses a file whose first row uses another delimiter than the header', async () => {
    expect(await refusal('contactNumber,firstName\n1;A\n')).toMatch(
      /line 2 is a single value containing ";" \(semicolons\), where the header has 2 columns/,
    );
  });

  it('refuses duplicate and empty column names', async () => {
    expect(await refusal('contactNumber,email,email\n')).toMatch(/names column "email" twice/);
    expect(await refusal('contactNumber,,email\n')).toMatch(/column 2 of the header has no name/);
  });

  it('refuses unknown columns and lists the known ones', async () => {
    const message = await refusal('contactNumber,emial,authorization:,criterion:A B\n');
    expect(message).toMatch(/unknown columns "emial", "authorization:", "criterion:A B"/);
    expect(message).toMatch(
      /the columns are: contactNumber, firstName, .*authorization:<CODE>, criterion:<CODE>/,
    );
  });

  it('refuses a header with an unclosed quote', async () => {
    expect(await refusal('contactNumber,"email\n')).toMatch(
      /line 1, the header: a quoted value opened on line 1/,
    );
  });
});

describe('readUpdates', () => {
  it('turns rows into S-360 updates', async () => {
    const path = await file(
      'contactNumber,firstName,lastName,email,phone,mobile,authorization:RENEWAL,criterion:SEGMENT\n' +
        '00042,Anna,Muster,anna@example.ch,+41 22 000 00 00,,YES,gold\n' +
        '7,,,,,+41 79 000 00 00,0,\n',
    );
    await expect(readUpdates(path, { maxRows: 10 })).resolves.toEqual({
      rows: [
        {
          line: 2,
          update: {
            contactNumber: '00042',
            general: { firstName: 'Anna', lastName: 'Muster' },
            comMeans: { email: 'anna@example.ch', phone: '+41 22 000 00 00' },
            authorizations: [{ code: 'RENEWAL', value: true }],
            criteria: [{ code: 'SEGMENT', value: 'gold' }],
          },
        },
        {
          line: 3,
          update: {
            contactNumber: '7',
            comMeans: { mobile: '+41 79 000 00 00' },
            authorizations: [{ code: 'RENEWAL', value: false }],
          },
        },
      ],
      problems: [],
      nextLine: null,
    });
  });

  it('reads quoted values with commas, doubled quotes and line breaks, keeping line numbers right', async () => {
    const path = await file(
      'contactNumber,lastName,criterion:NOTE\n' +
        '1,"Muster, Anna","says ""hi"""\n' +
        '2,Bern,"first line\nsecond line\nthird line"\n' +
        '3,Zurich,plain\n' +
        '4,"",x\n',
    );
    const page = await readUpdates(path, { maxRows: 10 });
    expect(page.problems).toEqual([]);
    expect(
      page.rows.map((row) => [row.line, row.update.general?.lastName, row.update.criteria?.[0]?.value]),
    ).toEqual([
      [2, 'Muster, Anna', 'says "hi"'],
      [3, 'Bern', 'first line\nsecond line\nthird line'],
      [6, 'Zurich', 'plain'],
      [7, undefined, 'x'],
    ]);
  });

  it('reads CRLF files, with CRLF kept inside quoted values', async () => {
    const path = await file('contactNumber,firstName,criterion:NOTE\r\n1,Anna,"a\r\nb"\r\n2,Ben,c\r\n');
    const page = await readUpdates(path, { maxRows: 10 });
    expect(page.rows).toEqual([
      {
        line: 2,
        update: {
          contactNumber: '1',
          general: { firstName: 'Anna' },
          criteria: [{ code: 'NOTE', value: 'a\r\nb' }],
        },
      },
      {
        line: 4,
        update: {
          contactNumber: '2',
          general: { firstName: 'Ben' },
          criteria: [{ code: 'NOTE', value: 'c' }],
        },
      },
    ]);
  });

  it('skips a BOM at the start and reads UTF-8 values', async () => {
    const path = await file(Buffer.from('\ufeffcontactNumber,firstName\n1,Zoë\n2,Jérôme\n', 'utf8'));
    await expect(checkUpdateFile(path)).resolves.toEqual([
      { name: 'contactNumber', kind: 'contactNumber' },
      { name: 'firstName', kind: 'firstName' },
    ]);
    const page = await readUpdates(path, { maxRows: 10 });
    expect(page.rows.map((row) => row.update.general?.firstName)).toEqual(['Zoë', 'Jérôme']);
  });

  it('reads a last row without a line end, and skips empty lines', async () => {
    const path = await file('contactNumber,firstName\n\n1,A\n\n\n2,B');
    const page = await readUpdates(path, { maxRows: 10 });
    expect(page.rows.map((row) => [row.line, row.update.contactNumber])).toEqual([
      [3, '1'],
      [6, '2'],
    ]);
    expect(page.nextLine).toBeNull();
  });

  it('parks bad rows with their line and a reason naming the column, and goes on', async () => {
    const path = await file(
      'contactNumber,email,authorization:RENEWAL,criterion:NOTE\n' +
        '1,a@b.ch,true,ok\n' +
        '12a,a@b.ch,true,x\n' +
        ',a@b.ch,true,x\n' +
        '2,not-an-email,true,x\n' +
        '3,a@b.ch,maybe,x\n' +
        '4,a@b.ch,true\n' +
        '5,a@b.ch,true,x,extra\n' +
        '6,,,\n' +
        '7,"multi\nline",perhaps,x\n' +
        '8,a@b.ch,no,a "quoted" word\n' +
        '9,a@b.ch,"yes"x,y\n' +
        '10,a@b.ch,1,fine\n',
    );
    const page = await readUpdates(path, { maxRows: 100 });
    expect(page.rows.map((row) => [row.line, row.update.contactNumber])).toEqual([
      [2, '1'],
      [14, '10'],
    ]);
    expect(page.problems).toEqual([
      { line: 3, reason: 'contactNumber "12a": expected a contact number: 1 to 20 digits as text' },
      { line: 4, reason: 'contactNumber is empty' },
      { line: 5, contactNumber: '2', reason: 'email "not-an-email": not an e-mail address' },
      {
        line: 6,
        contactNumber: '3',
        reason: 'authorization:RENEWAL "maybe": expected true/false, yes/no or 1/0',
      },
      {
        line: 7,
        contactNumber: '4',
        reason:
          'the row has 3 fields where the header has 4 columns (a value containing a comma must be quoted)',
      },
      {
        line: 8,
        contactNumber: '5',
        reason:
          'the row has 5 fields where the header has 4 columns (a value containing a comma must be quoted)',
      },
      { line: 9, contactNumber: '6', reason: 'nothing to update: every column but contactNumber is empty' },
      {
        line: 10,
        contactNumber: '7',
        reason:
          'email "multi\nline": not an e-mail address; authorization:RENEWAL "perhaps": expected true/false, yes/no or 1/0',
      },
      {
        line: 12,
        contactNumber: '8',
        reason: 'a quote inside an unquoted value (quote the whole value and double its quotes)',
      },
      { line: 13, contactNumber: '9', reason: 'text after a closing quote' },
    ]);
    expect(page.nextLine).toBeNull();
  });

  it('parks a row whose quoted value is never closed', async () => {
    const path = await file('contactNumber,firstName\n1,A\n2,"B\n3,C\n');
    const page = await readUpdates(path, { maxRows: 10 });
    expect(page.rows.map((row) => row.line)).toEqual([2]);
    expect(page.problems).toEqual([
      {
        line: 3,
        contactNumber: '2',
        reason: 'a quoted value opened on line 3 is not closed before the end of the file',
      },
    ]);
  });

  it('reads page by page, counting bad rows in the page, and resumes right after the last row read', async () => {
    const path = await file('contactNumber,firstName\n1,A\nx,B\n\n3,"C\nC"\n4,D\n5,E\n');
    const first = await readUpdates(path, { maxRows: 2 });
    expect(first.rows.map((row) => row.line)).toEqual([2]);
    expect(first.problems.map((problem) => problem.line)).toEqual([3]);
    expect(first.nextLine).toBe(4);
    const second = await readUpdates(path, { fromLine: 4, maxRows: 2 });
    expect(second.rows.map((row) => row.line)).toEqual([5, 7]);
    expect(second.nextLine).toBe(8);
    const third = await readUpdates(path, { fromLine: 8, maxRows: 2 });
    expect(third.rows.map((row) => row.line)).toEqual([8]);
    expect(third.nextLine).toBeNull();
    // A page that ends exactly at the last row has no next page.
    await expect(readUpdates(path, { fromLine: 7, maxRows: 2 })).resolves.toMatchObject({ nextLine: null });
    // Beyond the end: nothing.
    await expect(readUpdates(path, { fromLine: 100, maxRows: 2 })).resolves.toEqual({
      rows: [],
      problems: [],
      nextLine: null,
    });
  });

  it('refuses a malformed file, and bad paging options', async () => {
    const bad = await file('contactNumber;firstName\n');
    expect(await rejection(readUpdates(bad, { maxRows: 1 }))).toBeInstanceOf(UpdateFileError);
    const good = await file('contactNumber,firstName\n1,A\n');
    expect(await rejection(readUpdates(good, { maxRows: 0 }))).toBeInstanceOf(RangeError);
    expect(await rejection(readUpdates(good, { fromLine: 1, maxRows: 1 }))).toBeInstanceOf(RangeError);
  });

  it('reads every row of a 10,000-row file exactly once across pages', async () => {
    const path = await generatedFile(10_000);
    const seen = new Map<string, number>();
    let fromLine: number | null = 2;
    let pages = 0;
    while (fromLine !== null) {
      const page: UpdatePage = await readUpdates(path, { fromLine, maxRows: 337 });
      expect(page.problems).toEqual([]);
      for (const row of page.rows) {
        seen.set(row.update.contactNumber, (seen.get(row.update.contactNumber) ?? 0) + 1);
        expect(row.line).toBe(Number(row.update.contactNumber) + 1);
        expect(row.update.general?.firstName).toBe(`Name ${Number(row.update.contactNumber)}, Jr`);
      }
      pages += 1;
      fromLine = page.nextLine;
    }
    expect(pages).toBe(Math.ceil(10_000 / 337));
    expect(seen.size).toBe(10_000);
    expect([...seen.values()].every((count) => count === 1)).toBe(true);
  });

  it('resumes at a line from the start of the file as well (a page read by another process)', async () => {
    const path = await generatedFile(3_000);
    // A line no earlier page ended on: no remembered position, the file is parsed from its start.
    const page = await readUpdates(path, { fromLine: 2_501, maxRows: 10 });
    expect(page.rows.map((row) => row.line)).toEqual(Array.from({ length: 10 }, (_, i) => 2_501 + i));
    expect(page.rows[0]?.update.contactNumber).toBe('00002500');
    expect(page.nextLine).toBe(2_511);
  });

  it('keeps the heap small while reading a 200,000-row file page by page', async () => {
    const path = await generatedFile(200_000);
    // A collection before each measure, so that only what is still held counts.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage().heapUsed;
    let fromLine: number | null = 2;
    let rows = 0;
    while (fromLine !== null) {
      const page: UpdatePage = await readUpdates(path, { fromLine, maxRows: 500 });
      rows += page.rows.length + page.problems.length;
      fromLine = page.nextLine;
    }
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(rows).toBe(200_000);
    expect(grown).toBeLessThan(50 * 1024 * 1024);
  }, 60_000);
});

describe('countUpdateRows', () => {
  it('counts the data rows, good and bad, skipping empty lines, a row spanning lines counted once', async () => {
    const path = await file(
      'contactNumber,firstName\r\n1,Ana\r\n\r\n2,"Multi\nline"\r\nnot-a-number,Léa\r\n3,too,many\r\n',
    );
    expect(await countUpdateRows(path)).toBe(4);
    expect(await countUpdateRows(await file('contactNumber,firstName\n'))).toBe(0);
  });
});
