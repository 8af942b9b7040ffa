import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { createMassUpdateActivities } from '../../../src/activities/mass-update-activities';
import type {
  ApplyMassUpdateChunkInput,
  MassUpdateChunkProgress,
} from '../../../src/activities/mass-update-activity-types';
import { NotFoundError, PermanentError, TransientError } from '../../../src/adapters/http/errors';
import type { S360ContactUpdate } from '../../../src/adapters/s360/s360-client';
import { s360ContactSchema, type S360Contact } from '../../../src/adapters/s360/s360-contact';
import type { CrmAdapter, CrmQueryInput, CrmQueryPage } from '../../../src/adapters/crm/crm-adapter';
import { FailureType } from '../../../src/failure-types';
import { loadMapping } from '../../../src/mapping/load-mapping';
import { environment, MemorySyncStore } from '../../helpers/activity-fakes';
import { rejection } from '../../helpers/rejection';

let dir: string;
let files = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crm-sync-mass-update-activities-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function updateFile(content: string): Promise<string> {
  files += 1;
  const path = join(dir, `updates-${files}.csv`);
  await writeFile(path, content);
  return path;
}

/**
 * An S-360 stand-in: known contacts are saved, others are NOT_FOUND; `refuse` answers an error per contact. Each
 * known contact has the opt-ins EMAIL (true) and SMS (false) and the criterion VIP.
 */
class S360Stub {
  readonly saves: S360ContactUpdate[] = [];
  readonly reads: string[] = [];
  readonly refuse = new Map<string, () => Error>();
  constructor(private readonly known: Set<string>) {}
  async getContactData(contactNumber: string): Promise<S360Contact> {
    this.reads.push(contactNumber);
    if (!this.known.has(contactNumber)) {
      throw new NotFoundError(`S-360 getContactData: NOT_FOUND: Contact ${contactNumber} does not exist`, {
        system: 'S-360',
        status: 200,
      });
    }
    return s360ContactSchema.parse({
      contactNumber,
      contactType: 'INDIVIDUAL',
      general: { lastName: `Contact ${contactNumber}` },
      lastModificationDate: '2026-01-01T00:00:00.000Z',
      authorizations: [
        { code: 'EMAIL', value: true },
        { code: 'SMS', value: false },
      ],
      criteria: [{ code: 'VIP', value: 'gold' }],
    });
  }
  async saveIndividualContactData(update: S360ContactUpdate): Promise<{ contactNumber: string }> {
    this.saves.push(update);
    const refusal = this.refuse.get(update.contactNumber);
    if (refusal) throw refusal();
    if (!this.known.has(update.contactNumber)) {
      throw new NotFoundError(
        `S-360 saveIndividualContactData: NOT_FOUND: Contact ${update.contactNumber} does not exist`,
        { system: 'S-360', status: 200 },
      );
    }
    return { contactNumber: update.contactNumber };
  }
}

/** A CRM whose record search answers `pages` (one per call, in order); `queries` records what it was asked. */
class CrmQueryStub implements CrmAdapter {
  readonly target = 'crm';
  readonly queryPageSize = 2;
  readonly queries: CrmQueryInput[] = [];
  constructor(private readonly pages: CrmQueryPage[]) {}
  async pushContacts(): Promise<never> {
    throw new Error('not used');
  }
  async queryRecords(input: CrmQueryInput): Promise<CrmQueryPage> {
    this.queries.push(input);
    const page = this.pages[input.after === undefined ? 0 : Number(input.after)];
    if (!page) throw new PermanentError(`no page after ${input.after}`, { system: 'CRM crm', status: 400 });
    return page;
  }
}

function setup(known: string[], crm: CrmAdapter = new CrmQueryStub([])) {
  const store = new MemorySyncStore();
  const s360 = new S360Stub(new Set(known));
  const allowed: Array<{ limit: number; forMs: number }> = [];
  const activities = createMassUpdateActivities({
    store,
    s360,
    s360Budget: { allowFor: (limit, forMs) => allowed.push({ limit, forMs }) },
    crmAdapter: (target) => {
      if (target !== crm.target) throw new Error(`unknown target ${target}`);
      return crm;
    },
    mapping: loadMapping(),
  });
  return { store, s360, activities, allowed };
}

const chunk = (file: string, more: Partial<ApplyMassUpdateChunkInput> = {}): ApplyMassUpdateChunkInput => ({
  updateId: 'renewals',
  file,
  fromLine: 2,
  maxRows: 100,
  perMinute: 180,
  ...more,
});

describe('applyMassUpdateChunk', () => {
  it('applies the good rows and parks the bad ones with their line and reason; the rest goes on', async () => {
    const { store, s360, activities } = setup(['1', '2', '3']);
    const file = await updateFile(
      [
        'contactNumber,firstName,email',
        '1,Ana,ana@example.org',
        '404,Léo,leo@example.org',
        '2,Zoé,not-an-email',
        '3,Max,max@example.org,extra',
        '2,Inès,ines@example.org',
      ].join('\n'),
    );
    const { env } = environment();
    const result = await env.run(activities.applyMassUpdateChunk, chunk(file));

    expect(result).toEqual({ rows: 5, applied: 2, parked: 3, calls: 3, nextLine: null });
    expect(s360.saves.map((save) => save.contactNumber)).toEqual(['1', '404', '2']);
    expect(s360.saves[2]).toEqual({
      contactNumber: '2',
      general: { firstName: 'Inès' },
      comMeans: { email: 'ines@example.org' },
    });
    const parked = await store.listMassUpdateParked({ updateId: 'renewals' });
    expect(parked).toEqual([
      expect.objectContaining({
        line: 3,
        contactNumber: '404',
        code: 'NOT_FOUND',
        reason: expect.stringContaining('Contact 404 does not exist'),
        update: {
          contactNumber: '404',
          general: { firstName: 'Léo' },
          comMeans: { email: 'leo@example.org' },
        },
      }),
      expect.objectContaining({
        line: 4,
        contactNumber: '2',
        code: 'INVALID_ROW',
        reason: 'email "not-an-email": not an e-mail address',
      }),
      expect.objectContaining({
        line: 5,
        contactNumber: '3',
        code: 'INVALID_ROW',
        reason: expect.stringContaining('the row has 4 fields where the header has 3 columns'),
      }),
    ]);
    expect(parked[1]).not.toHaveProperty('update');
  });

  it("changes only the opt-ins and criteria a row names, keeping the contact's others", async () => {
    const { s360, activities } = setup(['1', '2']);
    const file = await updateFile(
      [
        'contactNumber,firstName,authorization:SMS,authorization:NEWSLETTER,criterion:RENEWAL',
        '1,Ana,yes,no,2026-2027',
        '2,Léo,,,',
        '404,Max,yes,,',
      ].join('\n'),
    );
    const { env } = environment();
    const result = await env.run(activities.applyMassUpdateChunk, chunk(file));

    const saved = (contactNumber: string) => s360.saves.find((save) => save.contactNumber === contactNumber);
    // Row 1 names lists: the contact is read first, and its other entries go back as they were.
    expect(saved('1')).toEqual({
      contactNumber: '1',
      general: { firstName: 'Ana' },
      authorizations: [
        { code: 'EMAIL', value: true },
        { code: 'SMS', value: true },
        { code: 'NEWSLETTER', value: false },
      ],
      criteria: [
        { code: 'VIP', value: 'gold' },
        { code: 'RENEWAL', value: '2026-2027' },
      ],
    });
    // Row 2 names none (empty values leave fields as they are): no read, its lists untouched.
    expect(saved('2')).toEqual({ contactNumber: '2', general: { firstName: 'Léo' } });
    expect(s360.reads.sort()).toEqual(['1', '404']);
    // The unknown contact is parked from the read; every call counts for the pacing.
    expect(result).toMatchObject({ rows: 3, applied: 2, parked: 1, calls: 4 });
  });

  it('parks a value S-360 refuses with S-360 code and reason', async () => {
    const { store, s360, activities } = setup(['1', '2']);
    s360.refuse.set(
      '1',
      () =>
        new PermanentError(
          'S-360 saveIndividualContactData: INVALID_PARAMETER: criteria[0].value: too long',
          {
            system: 'S-360',
            status: 200,
            code: 'INVALID_PARAMETER',
          },
        ),
    );
    const file = await updateFile('contactNumber,criterion:SEASON\n1,2025-2026-very-long\n2,2025\n');
    const result = await environment().env.run(activities.applyMassUpdateChunk, chunk(file));
    // Each row names a criterion: the contact is read, then saved.
    expect(result).toMatchObject({ applied: 1, parked: 1, calls: 4 });
    expect(await store.listMassUpdateParked({ updateId: 'renewals' })).toEqual([
      expect.objectContaining({
        line: 2,
        contactNumber: '1',
        code: 'INVALID_PARAMETER',
        reason: expect.stringContaining('criteria[0].value: too long'),
      }),
    ]);
  });

  it('reads one page at a time and says where the next one starts', async () => {
    const { activities, s360 } = setup(['1', '2', '3']);
    const file = await updateFile('contactNumber,firstName\n1,A\n2,B\n3,C\n');
    const first = await environment().env.run(activities.applyMassUpdateChunk, chunk(file, { maxRows: 2 }));
    expect(first).toEqual({ rows: 2, applied: 2, parked: 0, calls: 2, nextLine: 4 });
    const second = await environment().env.run(
      activities.applyMassUpdateChunk,
      chunk(file, { fromLine: 4, maxRows: 2 }),
    );
    expect(second).toEqual({ rows: 1, applied: 1, parked: 0, calls: 1, nextLine: null });
    expect(s360.saves.map((save) => save.contactNumber)).toEqual(['1', '2', '3']);
  });

  it('rethrows a transient error for Temporal to retry, and the retry goes on after the rows already done', async () => {
    const { activities, s360, store } = setup(['1', '2', '3', '4']);
    s360.refuse.set('3', () => new TransientError('S-360 answered 503', { system: 'S-360', status: 503 }));
    const file = await updateFile('contactNumber,firstName\n1,A\n2,B\n3,C\n4,D\n');
    const { env, heartbeats } = environment<MassUpdateChunkProgress>();
    const failure = await rejection(env.run(activities.applyMassUpdateChunk, chunk(file)));
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: FailureType.Transient, nonRetryable: false });
    const last = heartbeats.at(-1);
    expect(last).toMatchObject({ fromLine: 2, applied: 2 });
    expect(last?.done).toBeGreaterThanOrEqual(2);
    expect(store.massUpdateParked.size).toBe(0);

    s360.refuse.clear();
    const savesBefore = s360.saves.length;
    const retried = await environment(last).env.run(activities.applyMassUpdateChunk, chunk(file));
    expect(retried).toEqual({ rows: 4, applied: 4, parked: 0, calls: 4, nextLine: null });
    const again = s360.saves.slice(savesBefore).map((save) => save.contactNumber);
    expect(again).not.toContain('1');
    expect(again).toContain('3');
    expect(again).toContain('4');
  });

  it('stops on refused credentials with a Configuration failure instead of parking every row', async () => {
    const { activities, s360, store } = setup(['1']);
    s360.refuse.set(
      '1',
      () => new PermanentError('S-360 answered 401', { system: 'S-360', status: 401, code: 'UNAUTHORIZED' }),
    );
    const file = await updateFile('contactNumber,firstName\n1,A\n');
    const failure = await rejection(environment().env.run(activities.applyMassUpdateChunk, chunk(file)));
    expect(failure).toMatchObject({ type: FailureType.Configuration, nonRetryable: true });
    expect(store.massUpdateParked.size).toBe(0);
  });

  it('has the S-360 budget allow a raised rate until the raise ends', async () => {
    const { activities, allowed } = setup(['1']);
    const file = await updateFile('contactNumber,firstName\n1,A\n');
    await environment().env.run(activities.applyMassUpdateChunk, chunk(file, { perMinute: 600 }));
    expect(allowed).toEqual([]);
    await environment().env.run(
      activities.applyMassUpdateChunk,
      chunk(file, { perMinute: 600, raisedUntilMs: Date.now() + 60_000 }),
    );
    expect(allowed).toEqual([{ limit: 600, forMs: expect.any(Number) }]);
    expect(allowed[0]?.forMs).toBeGreaterThan(50_000);
    expect(allowed[0]?.forMs).toBeLessThanOrEqual(60_000);
  });

  it('refuses a file that became malformed, for good, saying why', async () => {
    const { activities } = setup([]);
    const file = await updateFile('contactNumber;firstName\n1;A\n');
    const failure = await rejection(environment().env.run(activities.applyMassUpdateChunk, chunk(file)));
    expect(failure).toMatchObject({ type: FailureType.InvalidUpdateFile, nonRetryable: true });
    expect((failure as Error).message).toContain('it must be comma-separated');
  });

  it('retries the parked rows of an update: applied ones leave the list, refused ones stay with a new attempt', async () => {
    const { activities, store, s360 } = setup(['1', '2']);
    const update = (contactNumber: string) => ({ contactNumber, general: { firstName: 'Ana' } });
    await store.parkMassUpdateRows([
      {
        updateId: 'renewals',
        line: 2,
        contactNumber: '1',
        code: 'NOT_FOUND',
        reason: 'x',
        update: update('1'),
      },
      { updateId: 'renewals', line: 3, code: 'INVALID_ROW', reason: 'the row has 3 fields' },
      {
        updateId: 'renewals',
        line: 4,
        contactNumber: '9',
        code: 'NOT_FOUND',
        reason: 'x',
        update: update('9'),
      },
      {
        updateId: 'renewals',
        line: 6,
        contactNumber: '2',
        code: 'NOT_FOUND',
        reason: 'x',
        update: update('2'),
      },
    ]);
    expect(
      await environment().env.run(activities.checkMassUpdateSource, { updateId: 'r-1', retryOf: 'renewals' }),
    ).toEqual({ totalRows: 3 });
    const retry = { updateId: 'r-1', retryOf: 'renewals', fromLine: 0, maxRows: 2, perMinute: 180 };
    const first = await environment().env.run(activities.applyMassUpdateChunk, retry);
    expect(first).toEqual({ rows: 2, applied: 1, parked: 1, calls: 2, nextLine: 6 });
    const second = await environment().env.run(activities.applyMassUpdateChunk, { ...retry, fromLine: 6 });
    expect(second).toEqual({ rows: 1, applied: 1, parked: 0, calls: 1, nextLine: null });
    expect(s360.saves.map((save) => save.contactNumber)).toEqual(['1', '9', '2']);
    expect(await store.listMassUpdateParked({ updateId: 'renewals' })).toEqual([
      expect.objectContaining({ line: 3, code: 'INVALID_ROW', attempts: 1 }),
      expect.objectContaining({ line: 4, code: 'NOT_FOUND', attempts: 2 }),
    ]);
    expect(await store.listMassUpdateParked({ updateId: 'r-1' })).toEqual([]);
  });
});

describe('checkMassUpdateSource', () => {
  it('counts the rows of a good file', async () => {
    const { activities } = setup([]);
    const file = await updateFile('contactNumber,firstName\n1,A\n2,B\nbad\n');
    expect(await environment().env.run(activities.checkMassUpdateSource, { updateId: 'u', file })).toEqual({
      totalRows: 3,
    });
  });

  it('refuses a missing or malformed file for good, saying why', async () => {
    const { activities } = setup([]);
    const missing = await rejection(
      environment().env.run(activities.checkMassUpdateSource, { updateId: 'u', file: join(dir, 'none.csv') }),
    );
    expect(missing).toMatchObject({ type: FailureType.InvalidUpdateFile, nonRetryable: true });
    expect((missing as Error).message).toContain('no such file');
    const noHeader = await rejection(
      environment().env.run(activities.checkMassUpdateSource, {
        updateId: 'u',
        file: await updateFile('1,Ana\n2,Léo\n'),
      }),
    );
    expect((noHeader as Error).message).toMatch(/unknown column|contactNumber/);
  });
});

describe('a mass update from a CRM query', () => {
  // The default mapping: HasOptedOutOfEmail <- the EMAIL opt-in (inverted), FirstName <- general.firstName.
  const pages: CrmQueryPage[] = [
    {
      records: [
        { contactNumber: '1', entity: 'person', fields: { HasOptedOutOfEmail: true, FirstName: 'Ana' } },
        { crmId: 'crm-2', entity: 'person', fields: { FirstName: 'Léo' } },
      ],
      next: '1',
    },
    {
      records: [
        { crmId: 'crm-unlinked', entity: 'person', fields: { FirstName: 'Nobody' } },
        { contactNumber: '3', entity: 'person', fields: { Unmapped__c: 'x' } },
      ],
      next: null,
    },
  ];
  const query = { target: 'crm', query: 'Renewal__c = true' };

  it('keeps the records as rows, each mapped back to an S-360 update or with the reason it cannot be', async () => {
    const crm = new CrmQueryStub(pages);
    const { store, activities } = setup(['1', '2', '3'], crm);
    await store.linkCrmRecord({ target: 'crm', contactNumber: '2', entity: 'person', crmId: 'crm-2' });
    const { env, heartbeats } = environment();

    const result = await env.run(activities.checkMassUpdateSource, { updateId: 'q', crmQuery: query });

    expect(result).toEqual({ totalRows: 4 });
    expect(crm.queries).toEqual([
      { query: 'Renewal__c = true', limit: 2 },
      { query: 'Renewal__c = true', after: '1', limit: 2 },
    ]);
    expect(await store.listMassUpdateRows({ updateId: 'q', fromLine: 1, limit: 10 })).toEqual([
      {
        line: 1,
        contactNumber: '1',
        update: {
          contactNumber: '1',
          general: { firstName: 'Ana' },
          authorizations: [{ code: 'EMAIL', value: false }],
        },
      },
      { line: 2, contactNumber: '2', update: { contactNumber: '2', general: { firstName: 'Léo' } } },
      { line: 3, problem: 'CRM record crm-unlinked is not linked to an S-360 contact' },
      {
        line: 4,
        contactNumber: '3',
        problem: 'none of its fields (Unmapped__c) maps to S-360 inbound in the mapping',
      },
    ]);
    expect(heartbeats).toEqual([
      { after: '1', line: 2, done: false },
      { after: '1', line: 4, done: true },
    ]);
  });

  it('goes on from the last page kept when an attempt is retried', async () => {
    const crm = new CrmQueryStub(pages);
    const { activities } = setup(['1', '2', '3'], crm);
    const { env } = environment({ after: '1', line: 2, done: false });
    const result = await env.run(activities.checkMassUpdateSource, { updateId: 'q', crmQuery: query });
    // Only the second page is asked for; its rows are numbered after the two kept.
    expect(crm.queries).toEqual([{ query: 'Renewal__c = true', after: '1', limit: 2 }]);
    expect(result).toEqual({ totalRows: 2 });
  });

  it('applies the kept rows by line, keeping the opt-ins they do not name, and parks the others with their reason', async () => {
    const { store, s360, activities } = setup(['1', '2', '3'], new CrmQueryStub(pages));
    await store.linkCrmRecord({ target: 'crm', contactNumber: '2', entity: 'person', crmId: 'crm-2' });
    await environment().env.run(activities.checkMassUpdateSource, { updateId: 'q', crmQuery: query });

    const first = await environment().env.run(
      activities.applyMassUpdateChunk,
      chunk('', { file: undefined, crmQuery: query, updateId: 'q', fromLine: 1, maxRows: 3 }),
    );
    expect(first).toEqual({ rows: 3, applied: 2, parked: 1, calls: 3, nextLine: 4 });
    expect(s360.saves.find((save) => save.contactNumber === '1')).toEqual({
      contactNumber: '1',
      general: { firstName: 'Ana' },
      authorizations: [
        { code: 'EMAIL', value: false },
        { code: 'SMS', value: false },
      ],
    });
    const last = await environment().env.run(
      activities.applyMassUpdateChunk,
      chunk('', { file: undefined, crmQuery: query, updateId: 'q', fromLine: 4, maxRows: 3 }),
    );
    expect(last).toEqual({ rows: 1, applied: 0, parked: 1, calls: 0, nextLine: null });
    expect(
      (await store.listMassUpdateParked({ updateId: 'q' })).map(({ line, code, reason }) => ({
        line,
        code,
        reason,
      })),
    ).toEqual([
      { line: 3, code: 'INVALID_ROW', reason: 'CRM record crm-unlinked is not linked to an S-360 contact' },
      {
        line: 4,
        code: 'INVALID_ROW',
        reason: 'none of its fields (Unmapped__c) maps to S-360 inbound in the mapping',
      },
    ]);
  });

  it('fails for good, saying what to configure, on a target without a record search', async () => {
    const withoutSearch: CrmAdapter = { target: 'crm', pushContacts: async () => ({ duplicate: false }) };
    const { activities } = setup([], withoutSearch);
    const failure = await rejection(
      environment().env.run(activities.checkMassUpdateSource, { updateId: 'q', crmQuery: query }),
    );
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: FailureType.Configuration, nonRetryable: true });
    expect((failure as Error).message).toContain('crm.targets[].query');
  });
});
