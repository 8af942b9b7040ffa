/**
 * The behaviour of the sync store, the same on every database it runs on: the embedded one (PGlite) and a
 * PostgreSQL server each run this suite against a store of their own (embedded-sync-store.test.ts,
 * postgres-sync-store.test.ts). Each test uses targets of its own, so one database serves the whole suite.
 */
import { migrations, runMigrations } from '../../src/store/migrations';
import type { PgSyncStore } from '../../src/store/pg-sync-store';
import type { SqlClient } from '../../src/store/sql-client';
import type { SyncStore } from '../../src/store/sync-store';

/** A database to run the suite on. */
export interface SyncStoreBackend {
  /** A migrated store on an empty database, and the SQL client under it. */
  open(): Promise<{ store: PgSyncStore; sql: SqlClient }>;
  /** A second store on the same database, as a restarted process opens it (after the first was closed). */
  reopen(): Promise<SyncStore>;
  /** Removes what `open` created; the stores are closed already. */
  cleanup(): Promise<void>;
}

export function describeSyncStoreBehaviour(backend: SyncStoreBackend): void {
  let store: PgSyncStore;
  let sql: SqlClient;
  let reopened: SyncStore | undefined;

  beforeAll(async () => {
    ({ store, sql } = await backend.open());
  }, 120_000);

  afterAll(async () => {
    await reopened?.close();
    await store?.close();
    await backend.cleanup();
  }, 60_000);

  const outbound = (target: string) => ({ direction: 'outbound', target }) as const;

  describe('enqueue', () => {
    it('de-duplicates contacts per target and raises the version of a repeated one', async () => {
      await store.enqueue({
        direction: 'outbound',
        targets: ['dedup-a', 'dedup-b', 'dedup-a'],
        contactNumbers: ['0001', '0001', '0002'],
      });
      await store.enqueue({ direction: 'outbound', targets: ['dedup-a'], contactNumbers: ['0001'] });

      expect(await store.counts(outbound('dedup-a'))).toEqual({ pending: 2, claimed: 0, parked: 0 });
      expect(await store.counts(outbound('dedup-b'))).toEqual({ pending: 2, claimed: 0, parked: 0 });
      const claimed = await store.claim({ ...outbound('dedup-a'), claimId: 'c1', limit: 10 });
      expect(claimed.map(({ contactNumber, version }) => ({ contactNumber, version }))).toEqual([
        { contactNumber: '0001', version: 2 },
        { contactNumber: '0002', version: 1 },
      ]);
    });

    it('keeps directions apart', async () => {
      await store.enqueue({ direction: 'inbound', targets: ['directions'], contactNumbers: ['1'] });
      expect(await store.counts(outbound('directions'))).toEqual({ pending: 0, claimed: 0, parked: 0 });
      expect(await store.counts({ direction: 'inbound', target: 'directions' })).toEqual({
        pending: 1,
        claimed: 0,
        parked: 0,
      });
    });

    it('does nothing with no targets or no contacts', async () => {
      await store.enqueue({ direction: 'outbound', targets: [], contactNumbers: ['1'] });
      await store.enqueue({ direction: 'outbound', targets: ['empty'], contactNumbers: [] });
      expect(await store.counts(outbound('empty'))).toEqual({ pending: 0, claimed: 0, parked: 0 });
    });
  });

  describe('claim and acknowledge', () => {
    it('claims oldest first, up to the limit, and keeps a re-enqueued contact in its place', async () => {
      const key = outbound('order');
      await store.enqueue({ direction: 'outbound', targets: ['order'], contactNumbers: ['0300'] });
      await store.enqueue({ direction: 'outbound', targets: ['order'], contactNumbers: ['0100'] });
      await store.enqueue({ direction: 'outbound', targets: ['order'], contactNumbers: ['0250', '0200'] });
      await store.enqueue({ direction: 'outbound', targets: ['order'], contactNumbers: ['0300'] });

      const first = await store.claim({ ...key, claimId: 'run-1', limit: 3 });
      expect(first.map((entry) => entry.contactNumber)).toEqual(['0300', '0100', '0200']);
      const times = first.map((entry) => entry.firstEnqueuedAt);
      expect(times.every((time) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(time))).toBe(true);
      expect([...times].sort()).toEqual(times);
      expect(await store.counts(key)).toEqual({ pending: 1, claimed: 3, parked: 0 });

      await store.acknowledge({ ...key, claimId: 'run-1', contactNumbers: ['0300', '0100', '0200'] });
      const second = await store.claim({ ...key, claimId: 'run-2', limit: 3 });
      expect(second.map((entry) => entry.contactNumber)).toEqual(['0250']);
      await store.acknowledge({ ...key, claimId: 'run-2', contactNumbers: ['0250'] });
      expect(await store.counts(key)).toEqual({ pending: 0, claimed: 0, parked: 0 });
    });

    it('returns the same rows to a retried claim, without topping up', async () => {
      const key = outbound('idempotent');
      await store.enqueue({
        direction: 'outbound',
        targets: ['idempotent'],
        contactNumbers: ['1', '2', '3'],
      });
      const first = await store.claim({ ...key, claimId: 'run-1', limit: 2 });
      await store.enqueue({ direction: 'outbound', targets: ['idempotent'], contactNumbers: ['4'] });
      const again = await store.claim({ ...key, claimId: 'run-1', limit: 2 });

      expect(first.map((entry) => entry.contactNumber)).toEqual(['1', '2']);
      expect(again).toEqual(first);
      expect(await store.counts(key)).toEqual({ pending: 2, claimed: 2, parked: 0 });
    });

    it('re-queues a contact changed after its claim instead of losing the change', async () => {
      const key = outbound('changed');
      await store.enqueue({ direction: 'outbound', targets: ['changed'], contactNumbers: ['42', '43'] });
      const claimed = await store.claim({ ...key, claimId: 'run-1', limit: 10 });
      expect(claimed.map((entry) => entry.version)).toEqual([1, 1]);

      await store.enqueue({ direction: 'outbound', targets: ['changed'], contactNumbers: ['42'] });
      expect(await store.counts(key)).toEqual({ pending: 0, claimed: 2, parked: 0 });
      await store.acknowledge({ ...key, claimId: 'run-1', contactNumbers: ['42', '43'] });

      expect(await store.counts(key)).toEqual({ pending: 1, claimed: 0, parked: 0 });
      const next = await store.claim({ ...key, claimId: 'run-2', limit: 10 });
      expect(next.map(({ contactNumber, version }) => ({ contactNumber, version }))).toEqual([
        { contactNumber: '42', version: 2 },
      ]);
      await store.acknowledge({ ...key, claimId: 'run-2', contactNumbers: ['42'] });
      expect(await store.counts(key)).toEqual({ pending: 0, claimed: 0, parked: 0 });
    });

    it('takes over the rows of a stale claim, and ignores that claim’s late ack', async () => {
      const key = outbound('takeover');
      await store.enqueue({ direction: 'outbound', targets: ['takeover'], contactNumbers: ['1', '2', '3'] });
      await store.claim({ ...key, claimId: 'dead-run', limit: 2 });
      const taken = await store.claim({ ...key, claimId: 'new-run', limit: 10 });
      expect(taken.map((entry) => entry.contactNumber)).toEqual(['1', '2', '3']);

      await store.acknowledge({ ...key, claimId: 'dead-run', contactNumbers: ['1', '2'] });
      expect(await store.counts(key)).toEqual({ pending: 0, claimed: 3, parked: 0 });
      await store.acknowledge({ ...key, claimId: 'new-run', contactNumbers: ['1', '2', '3'] });
      expect(await store.counts(key)).toEqual({ pending: 0, claimed: 0, parked: 0 });
    });

    it('claims nothing with a zero limit or an empty outbox', async () => {
      const key = outbound('nothing');
      expect(await store.claim({ ...key, claimId: 'run-1', limit: 5 })).toEqual([]);
      await store.enqueue({ direction: 'outbound', targets: ['nothing'], contactNumbers: ['1'] });
      expect(await store.claim({ ...key, claimId: 'run-1', limit: 0 })).toEqual([]);
      expect(await store.counts(key)).toEqual({ pending: 1, claimed: 0, parked: 0 });
    });
  });

  describe('parked records', () => {
    it('parks a claimed contact out of the outbox, counting attempts and keeping the first time', async () => {
      const key = outbound('park');
      await store.enqueue({ direction: 'outbound', targets: ['park'], contactNumbers: ['0007', '0008'] });
      await store.claim({ ...key, claimId: 'run-1', limit: 10 });
      await store.park({
        ...key,
        claimId: 'run-1',
        contactNumber: '0007',
        code: 'INVALID_RECORD',
        reason: 'email: not an e-mail address',
        field: 'email',
      });
      expect(await store.counts(key)).toEqual({ pending: 0, claimed: 1, parked: 1 });

      const [first] = await store.listParked(key);
      expect(first).toEqual({
        direction: 'outbound',
        target: 'park',
        contactNumber: '0007',
        code: 'INVALID_RECORD',
        reason: 'email: not an e-mail address',
        field: 'email',
        attempts: 1,
        firstParkedAt: expect.any(String),
        lastParkedAt: first?.firstParkedAt,
      });

      await store.park({ ...key, contactNumber: '0007', code: 'NOT_FOUND', reason: 'no such contact' });
      await store.park({ ...key, contactNumber: '0008', code: 'REJECTED_BY_CRM', reason: 'refused' });
      const parked = await store.listParked(key);
      expect(parked.map((record) => record.contactNumber)).toEqual(['0008', '0007']);
      const again = parked[1];
      expect(again).toMatchObject({ code: 'NOT_FOUND', reason: 'no such contact', attempts: 2 });
      expect(again).not.toHaveProperty('field');
      expect(again?.firstParkedAt).toBe(first?.firstParkedAt);
      expect(Date.parse(again?.lastParkedAt ?? '')).toBeGreaterThanOrEqual(
        Date.parse(first?.lastParkedAt ?? ''),
      );
      expect(await store.counts(key)).toEqual({ pending: 0, claimed: 0, parked: 2 });
    });

    it('keeps a contact changed since its claim queued while parking it', async () => {
      const key = outbound('park-changed');
      await store.enqueue({ direction: 'outbound', targets: ['park-changed'], contactNumbers: ['5'] });
      await store.claim({ ...key, claimId: 'run-1', limit: 10 });
      await store.enqueue({ direction: 'outbound', targets: ['park-changed'], contactNumbers: ['5'] });
      await store.park({ ...key, claimId: 'run-1', contactNumber: '5', code: 'NOT_FOUND', reason: 'gone' });
      expect(await store.counts(key)).toEqual({ pending: 1, claimed: 0, parked: 1 });
    });

    it('leaves a row taken over by another claim in the outbox', async () => {
      const key = outbound('park-stale');
      await store.enqueue({ direction: 'outbound', targets: ['park-stale'], contactNumbers: ['5'] });
      await store.claim({ ...key, claimId: 'dead-run', limit: 10 });
      await store.claim({ ...key, claimId: 'new-run', limit: 10 });
      await store.park({
        ...key,
        claimId: 'dead-run',
        contactNumber: '5',
        code: 'NOT_FOUND',
        reason: 'gone',
      });
      expect(await store.counts(key)).toEqual({ pending: 0, claimed: 1, parked: 1 });
    });

    it('keeps a parked contact listed when a new change queues it, until a sync of it succeeds', async () => {
      const key = outbound('park-requeued');
      await store.park({ ...key, contactNumber: '9', code: 'NOT_FOUND', reason: 'gone' });
      await store.enqueue({ direction: 'outbound', targets: ['park-requeued'], contactNumbers: ['9'] });
      expect(await store.counts(key)).toEqual({ pending: 1, claimed: 0, parked: 1 });

      await store.claim({ ...key, claimId: 'run-1', limit: 10 });
      await store.acknowledge({ ...key, claimId: 'run-1', contactNumbers: ['9'] });
      expect(await store.counts(key)).toEqual({ pending: 0, claimed: 0, parked: 0 });
    });

    it('filters by key and limits the list', async () => {
      await store.park({ ...outbound('list'), contactNumber: '1', code: 'X', reason: 'x' });
      await store.park({ ...outbound('list'), contactNumber: '2', code: 'X', reason: 'x' });
      await store.park({ direction: 'inbound', target: 'list', contactNumber: '3', code: 'X', reason: 'x' });

      expect((await store.listParked(outbound('list'))).map((r) => r.contactNumber)).toEqual(['2', '1']);
      expect((await store.listParked({ target: 'list' })).map((r) => r.contactNumber)).toEqual([
        '3',
        '2',
        '1',
      ]);
      expect((await store.listParked({ target: 'list', limit: 1 })).map((r) => r.contactNumber)).toEqual([
        '3',
      ]);
      const all = await store.listParked();
      expect(all.filter((record) => record.target === 'list')).toHaveLength(3);
    });

    it('retries some or all parked records of a key back into the outbox', async () => {
      const key = outbound('retry');
      for (const contactNumber of ['1', '2', '3']) {
        await store.park({ ...key, contactNumber, code: 'NOT_FOUND', reason: 'gone' });
      }
      await store.park({ ...outbound('retry-other'), contactNumber: '1', code: 'NOT_FOUND', reason: 'gone' });

      expect(await store.retryParked({ ...key, contactNumbers: ['1', '404'] })).toBe(1);
      expect(await store.counts(key)).toEqual({ pending: 1, claimed: 0, parked: 2 });
      expect(await store.retryParked({ ...key, contactNumbers: [] })).toBe(0);
      expect(await store.retryParked(key)).toBe(2);
      expect(await store.counts(key)).toEqual({ pending: 3, claimed: 0, parked: 0 });
      expect(await store.retryParked(key)).toBe(0);
      expect(await store.counts(outbound('retry-other'))).toEqual({ pending: 0, claimed: 0, parked: 1 });

      const claimed = await store.claim({ ...key, claimId: 'run-1', limit: 10 });
      expect(claimed.map((entry) => entry.contactNumber).sort()).toEqual(['1', '2', '3']);
    });
  });

  describe('staged pushes', () => {
    it('keeps the first body and records the first delivery', async () => {
      expect(
        await store.stagePush({
          pushId: 'push-1',
          target: 'stage',
          contactNumbers: ['0001', '02'],
          body: 'first',
        }),
      ).toBe(true);
      expect(
        await store.stagePush({ pushId: 'push-1', target: 'stage', contactNumbers: ['9'], body: 'second' }),
      ).toBe(false);

      expect(await store.getStagedPush('push-1')).toEqual({
        pushId: 'push-1',
        target: 'stage',
        contactNumbers: ['0001', '02'],
        body: 'first',
        heldRelays: [],
      });
      await store.markPushDelivered('push-1');
      const delivered = (await store.getStagedPush('push-1'))?.deliveredAt;
      expect(delivered).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
      await store.markPushDelivered('push-1');
      expect((await store.getStagedPush('push-1'))?.deliveredAt).toBe(delivered);
      expect(await store.getStagedPush('push-unknown')).toBeUndefined();
    });
  });

  describe('relays and CRM links', () => {
    it('keeps the relays a push held back with the push', async () => {
      const heldRelays = [{ contactNumber: '0011', accountContactNumber: '0010' }];
      await store.stagePush({
        pushId: 'push-held',
        target: 'links',
        contactNumbers: ['0012'],
        body: '[]',
        heldRelays,
      });
      expect((await store.getStagedPush('push-held'))?.heldRelays).toEqual(heldRelays);
    });

    it('knows which contacts a CRM target holds, per target', async () => {
      await store.recordSynced({
        target: 'links-a',
        records: [
          { contactNumber: '0010', entity: 'account' },
          { contactNumber: '0010', entity: 'account' },
          { contactNumber: '0012', entity: 'person' },
        ],
      });
      await store.recordSynced({ target: 'links-a', records: [{ contactNumber: '0012', entity: 'person' }] });
      expect(
        await store.getCrmLinks({ target: 'links-a', contactNumbers: ['0010', '0011', '0012'] }),
      ).toEqual(
        new Map([
          ['0010', { entity: 'account' }],
          ['0012', { entity: 'person' }],
        ]),
      );
      expect(await store.getCrmLinks({ target: 'links-b', contactNumbers: ['0010'] })).toEqual(new Map());
    });

    it('links a record created in the CRM to its contact, one contact per crmId and target', async () => {
      expect(await store.contactNumberOfCrmId({ target: 'crm-ids', crmId: 'crm-1' })).toBeUndefined();
      await store.linkCrmRecord({
        target: 'crm-ids',
        contactNumber: '0020',
        entity: 'person',
        crmId: 'crm-1',
      });
      // Linking again (a retry) changes nothing; a push acknowledged later keeps the crmId.
      await store.linkCrmRecord({
        target: 'crm-ids',
        contactNumber: '0020',
        entity: 'person',
        crmId: 'crm-1',
      });
      await store.recordSynced({ target: 'crm-ids', records: [{ contactNumber: '0020', entity: 'person' }] });
      await store.recordSynced({ target: 'crm-ids', records: [{ contactNumber: '0021', entity: 'person' }] });
      expect(await store.contactNumberOfCrmId({ target: 'crm-ids', crmId: 'crm-1' })).toBe('0020');
      expect(await store.contactNumberOfCrmId({ target: 'other', crmId: 'crm-1' })).toBeUndefined();
      expect(
        await store.getCrmLinks({ target: 'crm-ids', contactNumbers: ['0020', '0021', '0022'] }),
      ).toEqual(
        new Map([
          ['0020', { entity: 'person', crmId: 'crm-1' }],
          ['0021', { entity: 'person' }],
        ]),
      );
      await expect(
        store.linkCrmRecord({ target: 'crm-ids', contactNumber: '0022', entity: 'person', crmId: 'crm-1' }),
      ).rejects.toThrow();
      await store.linkCrmRecord({ target: 'other', contactNumber: '0022', entity: 'person', crmId: 'crm-1' });
      expect(await store.contactNumberOfCrmId({ target: 'other', crmId: 'crm-1' })).toBe('0022');
    });

    it('queues a change of a record new in the CRM under crm:<crmId>, keeping the crmId', async () => {
      await store.recordInboundChange({
        target: 'crm-new',
        contactNumber: 'crm:crm-7',
        crmId: 'crm-7',
        kind: 'changed',
        entity: 'account',
        fields: { Name: 'Théâtre du Léman' },
        changedAt: '2024-06-01T08:00:00.000Z',
      });
      const claimed = await store.claim({
        direction: 'inbound',
        target: 'crm-new',
        claimId: 'run-1',
        limit: 10,
      });
      expect(claimed.map((entry) => entry.contactNumber)).toEqual(['crm:crm-7']);
      expect(await store.getInboundChanges({ target: 'crm-new', contactNumbers: ['crm:crm-7'] })).toEqual([
        expect.objectContaining({ contactNumber: 'crm:crm-7', crmId: 'crm-7', entity: 'account' }),
      ]);
    });

    it('gives released contacts back to the outbox in their place', async () => {
      const key = outbound('release');
      await store.enqueue({ ...key, targets: ['release'], contactNumbers: ['1', '2', '3'] });
      await store.claim({ ...key, claimId: 'run-1', limit: 3 });
      await store.release({ ...key, claimId: 'run-1', contactNumbers: ['1', '3'] });
      expect(await store.counts(key)).toEqual({ pending: 2, claimed: 1, parked: 0 });
      await store.release({ ...key, claimId: 'someone-else', contactNumbers: ['2'] });
      expect(await store.counts(key)).toEqual({ pending: 2, claimed: 1, parked: 0 });
      const next = await store.claim({ ...key, claimId: 'run-2', limit: 1 });
      expect(next.map((entry) => entry.contactNumber)).toEqual(['1']);
    });
  });

  describe('inbound changes and synced states', () => {
    const inbound = (target: string) => ({ direction: 'inbound', target }) as const;
    const change = (target: string, changedAt: string, fields: Record<string, string | null> = {}) =>
      ({ target, contactNumber: '0042', kind: 'changed', entity: 'person', fields, changedAt }) as const;

    it('keeps the latest change of a record and queues the contact inbound for that target only', async () => {
      await store.recordInboundChange(change('in-latest', '2025-03-01T10:00:00.000Z', { FirstName: 'Ann' }));
      await store.recordInboundChange(
        change('in-latest', '2025-03-01T11:00:00+01:00', { FirstName: 'Anna' }),
      );
      await store.recordInboundChange(change('in-latest', '2025-03-01T10:30:00.000Z', { FirstName: 'Anne' }));

      const [stored, ...rest] = await store.getInboundChanges({
        target: 'in-latest',
        contactNumbers: ['0042'],
      });
      expect(rest).toEqual([]);
      expect(stored).toEqual({
        target: 'in-latest',
        contactNumber: '0042',
        kind: 'changed',
        entity: 'person',
        fields: { FirstName: 'Anne' },
        changedAt: '2025-03-01T10:30:00.000Z',
        receivedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
      });

      await store.recordInboundChange(change('in-latest', '2025-03-01T09:00:00.000Z', { FirstName: 'Old' }));
      expect(await store.getInboundChanges({ target: 'in-latest', contactNumbers: ['0042'] })).toEqual([
        stored,
      ]);
      // The older change is ignored, but the contact is queued again (its change counter raised).
      expect(await store.counts(inbound('in-latest'))).toEqual({ pending: 1, claimed: 0, parked: 0 });
      expect(await store.counts(outbound('in-latest'))).toEqual({ pending: 0, claimed: 0, parked: 0 });
      const claimed = await store.claim({ ...inbound('in-latest'), claimId: 'in-run', limit: 10 });
      expect(claimed.map(({ contactNumber, version }) => ({ contactNumber, version }))).toEqual([
        { contactNumber: '0042', version: 4 },
      ]);
    });

    it('stores a deletion, keeping the entity known when the deletion does not name one', async () => {
      await store.recordInboundChange(change('in-delete', '2025-03-01T10:00:00Z', { FirstName: 'Ann' }));
      await store.recordInboundChange({
        target: 'in-delete',
        contactNumber: '0042',
        kind: 'deleted',
        fields: {},
        changedAt: '2025-03-02T08:00:00Z',
      });
      await store.recordInboundChange({
        target: 'in-delete',
        contactNumber: '0043',
        kind: 'deleted',
        fields: {},
        changedAt: '2025-03-02T08:00:00Z',
      });

      const changes = await store.getInboundChanges({
        target: 'in-delete',
        contactNumbers: ['0043', '0042'],
      });
      expect(changes).toEqual([
        expect.objectContaining({ contactNumber: '0042', kind: 'deleted', entity: 'person', fields: {} }),
        expect.objectContaining({ contactNumber: '0043', kind: 'deleted', fields: {} }),
      ]);
      expect(changes[1]).not.toHaveProperty('entity');
      expect(changes[1]?.changedAt).toBe('2025-03-02T08:00:00.000Z');
      expect(await store.counts(inbound('in-delete'))).toEqual({ pending: 2, claimed: 0, parked: 0 });
    });

    it('returns only the asked contacts of the asked target', async () => {
      for (const [target, contactNumber] of [
        ['in-only-a', '1'],
        ['in-only-a', '2'],
        ['in-only-a', '3'],
        ['in-only-b', '1'],
      ] as const) {
        await store.recordInboundChange({ ...change(target, '2025-03-01T10:00:00Z'), contactNumber });
      }

      const changes = await store.getInboundChanges({
        target: 'in-only-a',
        contactNumbers: ['3', '1', '9', '1'],
      });
      expect(changes.map((entry) => [entry.target, entry.contactNumber])).toEqual([
        ['in-only-a', '1'],
        ['in-only-a', '3'],
      ]);
      expect(await store.getInboundChanges({ target: 'in-only-c', contactNumbers: ['1'] })).toEqual([]);
      expect(await store.getInboundChanges({ target: 'in-only-a', contactNumbers: [] })).toEqual([]);
      expect(await store.counts(inbound('in-only-b'))).toEqual({ pending: 1, claimed: 0, parked: 0 });
    });

    it('replaces synced states, per target, keeping value types', async () => {
      const fields = {
        FirstName: 'Zoë',
        LastName: 'Müller-Łukasiewicz 日本',
        Optin: true,
        Blocked: false,
        Score: 12.5,
        Visits: 0,
        Phone: null,
        Empty: '',
      };
      await store.saveSyncedStates({
        target: 'state-a',
        states: [
          { contactNumber: '1', fields: { FirstName: 'Zoe' } },
          { contactNumber: '2', fields: { FirstName: 'Bob' } },
        ],
      });
      await store.saveSyncedStates({
        target: 'state-b',
        states: [{ contactNumber: '1', fields: { Other: 1 } }],
      });
      await store.saveSyncedStates({
        target: 'state-a',
        states: [
          { contactNumber: '1', fields: { FirstName: 'first of two' } },
          { contactNumber: '1', fields },
        ],
      });
      await store.saveSyncedStates({ target: 'state-a', states: [] });

      const states = await store.getSyncedStates({ target: 'state-a', contactNumbers: ['1', '2', '3'] });
      expect(states).toEqual(
        new Map<string, unknown>([
          ['1', fields],
          ['2', { FirstName: 'Bob' }],
        ]),
      );
      expect(Object.is(states.get('1')?.Visits, 0)).toBe(true);
      expect(await store.getSyncedStates({ target: 'state-b', contactNumbers: ['1', '2'] })).toEqual(
        new Map([['1', { Other: 1 }]]),
      );
      expect(await store.getSyncedStates({ target: 'state-a', contactNumbers: [] })).toEqual(new Map());
    });

    it('keeps the values of an inbound change with their types', async () => {
      const fields = { Name: 'Ærøskøbing «café» 😀', Optin: false, Count: -3, Ratio: 0.25, Fax: null };
      await store.recordInboundChange({ ...change('in-types', '2025-03-01T10:00:00Z'), fields });
      const [stored] = await store.getInboundChanges({ target: 'in-types', contactNumbers: ['0042'] });
      expect(stored?.fields).toEqual(fields);
    });
  });

  describe('conflicts and polling cursors', () => {
    it('lists conflicts newest first, per target, with both values and the decision', async () => {
      await store.recordConflicts([
        {
          target: 'conflicts-a',
          contactNumber: '0001',
          field: 'FirstName',
          baseValue: 'Zoé',
          s360Value: 'Zoë',
          crmValue: null,
          policy: 'latest',
          winner: 'crm',
        },
      ]);
      await store.recordConflicts([
        {
          target: 'conflicts-a',
          contactNumber: '0002',
          field: 'HasOptedOutOfEmail',
          baseValue: false,
          s360Value: true,
          crmValue: false,
          policy: 's360',
          winner: 's360',
        },
        {
          target: 'conflicts-b',
          contactNumber: '0003',
          field: 'Phone',
          baseValue: null,
          s360Value: '1',
          crmValue: '2',
          policy: 'crm',
          winner: 'crm',
        },
      ]);
      const listed = await store.listConflicts({ target: 'conflicts-a' });
      expect(listed.map((conflict) => ({ ...conflict, decidedAt: 'set' }))).toEqual([
        {
          target: 'conflicts-a',
          contactNumber: '0002',
          field: 'HasOptedOutOfEmail',
          baseValue: false,
          s360Value: true,
          crmValue: false,
          policy: 's360',
          winner: 's360',
          decidedAt: 'set',
        },
        {
          target: 'conflicts-a',
          contactNumber: '0001',
          field: 'FirstName',
          baseValue: 'Zoé',
          s360Value: 'Zoë',
          crmValue: null,
          policy: 'latest',
          winner: 'crm',
          decidedAt: 'set',
        },
      ]);
      expect(listed[0]?.decidedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(await store.listConflicts({ target: 'conflicts-a', limit: 1 })).toHaveLength(1);
    });

    it('keeps one polling cursor per target', async () => {
      expect(await store.getPollCursor('poll-a')).toBeUndefined();
      await store.savePollCursor('poll-a', '17');
      await store.savePollCursor('poll-a', '42');
      await store.savePollCursor('poll-b', '1');
      expect(await store.getPollCursor('poll-a')).toBe('42');
      expect(await store.getPollCursor('poll-b')).toBe('1');
    });
  });

  describe('recording a delivery', () => {
    it('saves the synced states, links the records and acknowledges them in one step', async () => {
      const key = outbound('delivered');
      await store.enqueue({ direction: 'outbound', targets: [key.target], contactNumbers: ['1', '2', '3'] });
      await store.claim({ ...key, claimId: 'run-1', limit: 10 });
      await store.park({ ...key, contactNumber: '1', code: 'REJECTED_BY_CRM', reason: 'earlier refusal' });
      await store.enqueue({ direction: 'outbound', targets: [key.target], contactNumbers: ['1', '2', '3'] });
      await store.claim({ ...key, claimId: 'run-2', limit: 10 });
      // 2 changes again while the push is in flight.
      await store.enqueue({ direction: 'outbound', targets: [key.target], contactNumbers: ['2'] });

      await store.recordDelivered({
        target: key.target,
        claimId: 'run-2',
        records: [
          { contactNumber: '1', entity: 'person', fields: { LastName: 'One' } },
          { contactNumber: '2', entity: 'account', fields: { Name: 'Two' } },
        ],
      });

      expect(await store.getSyncedStates({ target: key.target, contactNumbers: ['1', '2', '3'] })).toEqual(
        new Map([
          ['1', { LastName: 'One' }],
          ['2', { Name: 'Two' }],
        ]),
      );
      expect(
        [...(await store.getCrmLinks({ target: key.target, contactNumbers: ['1', '2', '3'] })).keys()].sort(),
      ).toEqual(['1', '2']);
      expect(await store.listParked(key)).toEqual([]);
      // 1 left the outbox, 2 (changed since) is queued again, 3 is still held by the run.
      expect(await store.counts(key)).toEqual({ pending: 1, claimed: 1, parked: 0 });
    });

    it('marks the push delivered in the same step when asked, and only that push', async () => {
      const key = outbound('delivered-push');
      await store.enqueue({ direction: 'outbound', targets: [key.target], contactNumbers: ['1', '2'] });
      await store.claim({ ...key, claimId: 'run-1', limit: 10 });
      for (const pushId of ['delivered-push/0', 'delivered-push/1']) {
        await store.stagePush({ pushId, target: key.target, contactNumbers: ['1'], body: '[]' });
      }
      await store.recordDelivered({
        target: key.target,
        claimId: 'run-1',
        records: [{ contactNumber: '1', entity: 'person', fields: { LastName: 'One' } }],
        pushId: 'delivered-push/0',
      });
      expect((await store.getStagedPush('delivered-push/0'))?.deliveredAt).toEqual(expect.any(String));
      expect((await store.getStagedPush('delivered-push/1'))?.deliveredAt).toBeUndefined();
      expect(await store.counts(key)).toEqual({ pending: 0, claimed: 1, parked: 0 });
      // Nothing accepted: the push is still marked.
      await store.recordDelivered({
        target: key.target,
        claimId: 'run-1',
        records: [],
        pushId: 'delivered-push/1',
      });
      expect((await store.getStagedPush('delivered-push/1'))?.deliveredAt).toEqual(expect.any(String));
    });

    it('reads the links and synced states of a push in one lookup', async () => {
      const target = 'synced-records';
      await store.linkCrmRecord({ target, contactNumber: '1', entity: 'person', crmId: 'crm-1' });
      await store.saveSyncedStates({ target, states: [{ contactNumber: '1', fields: { LastName: 'One' } }] });
      await store.recordSynced({ target, records: [{ contactNumber: '2', entity: 'account' }] });
      await store.saveSyncedStates({
        target,
        states: [{ contactNumber: '3', fields: { Email: null, Opt: true } }],
      });
      await store.recordSynced({
        target: 'synced-records-other',
        records: [{ contactNumber: '4', entity: 'person' }],
      });

      expect(await store.getSyncedRecords({ target, contactNumbers: ['1', '2', '3', '4', '1'] })).toEqual(
        new Map([
          ['1', { link: { entity: 'person', crmId: 'crm-1' }, fields: { LastName: 'One' } }],
          ['2', { link: { entity: 'account' } }],
          ['3', { fields: { Email: null, Opt: true } }],
        ]),
      );
      expect(await store.getSyncedRecords({ target, contactNumbers: [] })).toEqual(new Map());
    });
  });

  describe('initial import lists and claims', () => {
    it('numbers listed contacts in order, ignores repeats and pages by position', async () => {
      expect(
        await store.addImportContacts({ listId: 'list-a', contactNumbers: ['0003', '0001', '0003'] }),
      ).toBe(2);
      expect(await store.addImportContacts({ listId: 'list-a', contactNumbers: ['0001', '0002'] })).toBe(3);
      expect(await store.addImportContacts({ listId: 'list-b', contactNumbers: ['0009'] })).toBe(1);

      expect(await store.getImportContacts({ listId: 'list-a', fromSeq: 0, limit: 10 })).toEqual([
        '0003',
        '0001',
        '0002',
      ]);
      expect(await store.getImportContacts({ listId: 'list-a', fromSeq: 1, limit: 1 })).toEqual(['0001']);
      await store.forgetImportContacts('list-a');
      expect(await store.getImportContacts({ listId: 'list-a', fromSeq: 0, limit: 10 })).toEqual([]);
      expect(await store.getImportContacts({ listId: 'list-b', fromSeq: 0, limit: 10 })).toEqual(['0009']);
    });

    it('holds imported contacts away from the outbound sync until acknowledged', async () => {
      const key = outbound('import-hold');
      await store.enqueue({ direction: 'outbound', targets: [key.target], contactNumbers: ['1', '2'] });
      // An outbound run holds 1; the import takes 2 (queued) and 3 (not queued).
      expect(await store.claim({ ...key, claimId: 'run-1', limit: 1 })).toHaveLength(1);
      expect(
        await store.claimForImport({
          target: key.target,
          claimId: 'import:x/0',
          contactNumbers: ['1', '2', '3'],
        }),
      ).toEqual({ claimed: ['2', '3'], busy: ['1'] });

      // The next outbound run takes over the ended run's row, not the import's.
      const next = await store.claim({ ...key, claimId: 'run-2', limit: 10 });
      expect(next.map((entry) => entry.contactNumber)).toEqual(['1']);

      // 3 changes in S-360 while the import holds it: after the import's ack it stays queued, for the outbound sync.
      await store.enqueue({ direction: 'outbound', targets: [key.target], contactNumbers: ['3'] });
      await store.acknowledge({ ...key, claimId: 'import:x/0', contactNumbers: ['2', '3'] });
      const after = await store.claim({ ...key, claimId: 'run-3', limit: 10 });
      expect(after.map((entry) => entry.contactNumber).sort()).toEqual(['1', '3']);
    });

    it('keeps a change made since the claim when a retried import claims its rows again', async () => {
      const key = outbound('import-retry');
      await store.claimForImport({ target: key.target, claimId: 'import:r/0', contactNumbers: ['1', '2'] });
      await store.enqueue({ direction: 'outbound', targets: [key.target], contactNumbers: ['2'] });
      // The retried attempt holds both again, without forgetting that 2 changed after the first claim.
      expect(
        await store.claimForImport({ target: key.target, claimId: 'import:r/0', contactNumbers: ['1', '2'] }),
      ).toEqual({ claimed: ['1', '2'], busy: [] });
      await store.acknowledge({ ...key, claimId: 'import:r/0', contactNumbers: ['1', '2'] });
      const queued = await store.claim({ ...key, claimId: 'run-1', limit: 10 });
      expect(queued.map((entry) => entry.contactNumber)).toEqual(['2']);
    });

    it('on release, drops the rows an import only held and keeps queued changes', async () => {
      const key = outbound('import-release');
      await store.enqueue({ direction: 'outbound', targets: [key.target], contactNumbers: ['1'] });
      await store.claimForImport({ target: key.target, claimId: 'import:y/0', contactNumbers: ['1', '2'] });
      await store.claimForImport({ target: key.target, claimId: 'import:y/5', contactNumbers: ['3'] });
      await store.claimForImport({ target: key.target, claimId: 'import:z/0', contactNumbers: ['4'] });

      expect(await store.releaseImportClaims({ target: key.target, claimIdPrefix: 'import:y/' })).toBe(3);
      const queued = await store.claim({ ...key, claimId: 'run-1', limit: 10 });
      expect(queued.map((entry) => entry.contactNumber)).toEqual(['1']);
      expect(await store.counts(key)).toEqual({ pending: 0, claimed: 2, parked: 0 });
    });
  });

  describe('parked mass update rows', () => {
    const update = (contactNumber: string) => ({ contactNumber, general: { firstName: 'Zoé' } });

    it('keeps each row with its line, contact, reason and update, by line, and counts them', async () => {
      await store.parkMassUpdateRows([
        {
          updateId: 'mu-1',
          line: 9,
          contactNumber: '42',
          code: 'NOT_FOUND',
          reason: 'unknown',
          update: update('42'),
        },
        {
          updateId: 'mu-1',
          line: 3,
          code: 'INVALID_ROW',
          reason: 'the row has 3 fields where the header has 2 columns',
        },
        {
          updateId: 'mu-2',
          line: 3,
          contactNumber: '7',
          code: 'NOT_FOUND',
          reason: 'other update',
          update: update('7'),
        },
      ]);
      const rows = await store.listMassUpdateParked({ updateId: 'mu-1' });
      expect(rows).toEqual([
        expect.objectContaining({ updateId: 'mu-1', line: 3, code: 'INVALID_ROW', attempts: 1 }),
        expect.objectContaining({
          line: 9,
          contactNumber: '42',
          code: 'NOT_FOUND',
          reason: 'unknown',
          update: update('42'),
          attempts: 1,
        }),
      ]);
      expect(rows[0]).not.toHaveProperty('update');
      expect(rows[0]).not.toHaveProperty('contactNumber');
      expect(await store.countMassUpdateParked('mu-1')).toEqual({ parked: 2, retryable: 1 });
      expect(await store.listMassUpdateParked({ updateId: 'mu-1', retryableOnly: true })).toEqual([
        expect.objectContaining({ line: 9 }),
      ]);
      expect(await store.listMassUpdateParked({ updateId: 'mu-1', fromLine: 4, limit: 1 })).toEqual([
        expect.objectContaining({ line: 9 }),
      ]);
    });

    it('raises attempts of a row parked again, takes the new reason, and unparks rows by line', async () => {
      await store.parkMassUpdateRows([
        {
          updateId: 'mu-3',
          line: 2,
          contactNumber: '1',
          code: 'NOT_FOUND',
          reason: 'first',
          update: update('1'),
        },
        {
          updateId: 'mu-3',
          line: 5,
          contactNumber: '2',
          code: 'NOT_FOUND',
          reason: 'first',
          update: update('2'),
        },
      ]);
      await store.parkMassUpdateRows([
        {
          updateId: 'mu-3',
          line: 2,
          contactNumber: '1',
          code: 'INVALID_PARAMETER',
          reason: 'second',
          update: update('1'),
        },
      ]);
      const [again] = await store.listMassUpdateParked({ updateId: 'mu-3', limit: 1 });
      expect(again).toMatchObject({ line: 2, code: 'INVALID_PARAMETER', reason: 'second', attempts: 2 });
      expect(Date.parse(again?.lastParkedAt ?? '')).toBeGreaterThanOrEqual(
        Date.parse(again?.firstParkedAt ?? ''),
      );
      expect(await store.unparkMassUpdateRows({ updateId: 'mu-3', lines: [5, 5, 8] })).toBe(1);
      expect(await store.countMassUpdateParked('mu-3')).toEqual({ parked: 1, retryable: 1 });
      expect(await store.countMassUpdateParked('mu-none')).toEqual({ parked: 0, retryable: 0 });
    });
  });

  describe('rows of a mass update from a CRM query', () => {
    it('keeps each row with its update or its problem, by line, once, and counts them', async () => {
      await store.addMassUpdateRows('query-a', [
        {
          line: 2,
          contactNumber: '0002',
          update: { contactNumber: '0002', criteria: [{ code: 'R', value: 'y' }] },
        },
        { line: 1, contactNumber: '0001', update: { contactNumber: '0001', general: { firstName: 'Zoé' } } },
        { line: 3, problem: 'CRM record crm-7 is not linked to an S-360 contact' },
      ]);
      // A retried snapshot adds the same lines again: the first ones stay.
      await store.addMassUpdateRows('query-a', [{ line: 1, problem: 'changed since' }]);
      await store.addMassUpdateRows('query-b', [
        { line: 1, contactNumber: '0009', problem: 'no field maps' },
      ]);

      expect(await store.listMassUpdateRows({ updateId: 'query-a', fromLine: 1, limit: 10 })).toEqual([
        { line: 1, contactNumber: '0001', update: { contactNumber: '0001', general: { firstName: 'Zoé' } } },
        {
          line: 2,
          contactNumber: '0002',
          update: { contactNumber: '0002', criteria: [{ code: 'R', value: 'y' }] },
        },
        { line: 3, problem: 'CRM record crm-7 is not linked to an S-360 contact' },
      ]);
      expect(
        (await store.listMassUpdateRows({ updateId: 'query-a', fromLine: 2, limit: 1 })).map(
          (row) => row.line,
        ),
      ).toEqual([2]);
      expect(await store.countMassUpdateRows('query-a')).toBe(3);
      expect(await store.countMassUpdateRows('query-b')).toBe(1);
      expect(await store.countMassUpdateRows('query-none')).toBe(0);
    });
  });

  describe('schema and durability', () => {
    it('runs migrations again without change', async () => {
      await store.migrate();
      expect(await runMigrations(sql)).toEqual([]);
      const { rows } = await sql.query<{ version: number }>(
        'select version from schema_migrations order by 1',
      );
      expect(rows.map((row) => row.version)).toEqual(migrations.map((step) => step.version));
      expect(migrations.map((step) => step.version)).toEqual(migrations.map((_step, index) => index + 1));
    });

    it('applies migrations one by one: a gap in the versions is no obstacle, a version added later is applied', async () => {
      const step = (version: number) => ({
        version,
        name: `gap test ${version}`,
        sql: `create table gap_test_${version} (id integer)`,
      });
      expect(await runMigrations(sql, [step(1001), step(1003)])).toEqual([1001, 1003]);
      expect(await runMigrations(sql, [step(1001), step(1002), step(1003)])).toEqual([1002]);
    });

    it('keeps pending, claimed and parked rows across a close and reopen of the database', async () => {
      const key = outbound('durable');
      await store.enqueue({ direction: 'outbound', targets: ['durable'], contactNumbers: ['1', '2', '3'] });
      await store.claim({ ...key, claimId: 'run-1', limit: 1 });
      await store.park({
        ...key,
        contactNumber: '3',
        code: 'NOT_FOUND',
        reason: 'gone',
        field: 'contactNumber',
      });
      await store.stagePush({ pushId: 'durable-push', target: 'durable', contactNumbers: ['1'], body: '[]' });
      await store.recordInboundChange({
        target: 'durable',
        contactNumber: '7',
        kind: 'changed',
        entity: 'account',
        fields: { Name: 'Genève SA', Active: true },
        changedAt: '2025-03-01T10:00:00.000Z',
      });
      await store.saveSyncedStates({
        target: 'durable',
        states: [{ contactNumber: '7', fields: { Name: 'Genf' } }],
      });
      const parked = await store.listParked(key);
      const inboundChanges = await store.getInboundChanges({ target: 'durable', contactNumbers: ['7'] });
      await store.close();
      await store.close();

      reopened = await backend.reopen();
      expect(await reopened.counts(key)).toEqual({ pending: 1, claimed: 1, parked: 1 });
      expect(await reopened.listParked(key)).toEqual(parked);
      expect((await reopened.getStagedPush('durable-push'))?.body).toBe('[]');
      expect(await reopened.getInboundChanges({ target: 'durable', contactNumbers: ['7'] })).toEqual(
        inboundChanges,
      );
      expect(inboundChanges).toHaveLength(1);
      expect(await reopened.counts({ direction: 'inbound', target: 'durable' })).toEqual({
        pending: 1,
        claimed: 0,
        parked: 0,
      });
      expect(await reopened.getSyncedStates({ target: 'durable', contactNumbers: ['7'] })).toEqual(
        new Map([['7', { Name: 'Genf' }]]),
      );
      expect(await reopened.claim({ ...key, claimId: 'run-1', limit: 1 })).toEqual([
        expect.objectContaining({ contactNumber: '1', version: 1 }),
      ]);
    }, 60_000);
  });
}
