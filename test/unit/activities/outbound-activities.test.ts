import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { createActivities } from '../../../src/activities';
import { FailureType } from '../../../src/failure-types';
import type { PrepareProgress } from '../../../src/activities/outbound-activities';
import type { CrmAdapter, CrmPush, CrmPushResult } from '../../../src/adapters/crm/crm-adapter';
import { PermanentError, ThrottledError, TransientError } from '../../../src/adapters/http/errors';
import { s360ContactSchema, type S360Contact } from '../../../src/adapters/s360/s360-contact';
import type { CrmContactRecord } from '../../../src/mapping/crm-contact-record';
import {
  environment as activityEnvironment,
  FakeS360,
  MemorySyncStore,
  s360Contact,
} from '../../helpers/activity-fakes';
import { loadMapping } from '../../../src/mapping/load-mapping';

class FakeCrm implements CrmAdapter {
  readonly target = 'default';
  readonly pushes: CrmPush[] = [];
  answer: (push: CrmPush) => CrmPushResult = () => ({ duplicate: false });
  async pushContacts(push: CrmPush): Promise<CrmPushResult> {
    this.pushes.push(push);
    return this.answer(push);
  }
}

const target = 'default';
const defaultMapping = loadMapping();
const claimId = 'outbound-sync:default/run-1';

function environment(heartbeatDetails?: PrepareProgress) {
  return activityEnvironment<PrepareProgress>(heartbeatDetails);
}

function setup(contacts: Array<string | S360Contact>, removal: 'deactivate' | 'delete' = 'deactivate') {
  const store = new MemorySyncStore();
  const known = contacts.map((contact) => (typeof contact === 'string' ? s360Contact(contact) : contact));
  const s360 = new FakeS360(new Map(known.map((contact) => [contact.contactNumber, contact])));
  const crm = new FakeCrm();
  const activities = createActivities({
    store,
    s360,
    mapping: defaultMapping,
    mapContact: (contact) => defaultMapping.mapOutbound(contact),
    removalOf: () => removal,
    crmAdapter: (name) => {
      if (name !== target) throw new Error(`unknown target ${name}`);
      return crm;
    },
  });
  return { store, s360, crm, activities };
}

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(ApplicationFailure);
  return error as ApplicationFailure;
}

describe('outbound activities', () => {
  it('claims outbound contacts under the run claim', async () => {
    const { store, activities } = setup([]);
    await store.enqueue({ direction: 'outbound', targets: [target], contactNumbers: ['001', '002', '003'] });
    const { env } = environment();
    await expect(env.run(activities.claimOutboundContacts, { target, claimId, limit: 2 })).resolves.toEqual({
      contactNumbers: ['001', '002'],
    });
  });

  describe('prepareOutboundPush', () => {
    const pushId = `${claimId}/0`;

    it("fails as a Configuration error, parking nothing, when S-360 refuses crm-sync's token", async () => {
      const { store, s360, activities } = setup(['0001']);
      s360.failures.set(
        '0001',
        new PermanentError('S-360 getContactData: UNAUTHORIZED', { system: 'S-360', code: 'UNAUTHORIZED' }),
      );
      const { env } = environment();
      const failure = await failureOf(
        env.run(activities.prepareOutboundPush, { target, claimId, pushId, contactNumbers: ['0001'] }),
      );
      expect(failure.type).toBe(FailureType.Configuration);
      expect(store.parked).toEqual([]);
    });

    it('gives a contact created from a CRM record the crmId of that record', async () => {
      const { store, activities } = setup(['0001', '0002']);
      await store.linkCrmRecord({ target, contactNumber: '0002', entity: 'person', crmId: 'crm-9' });
      const { env } = environment();

      await env.run(activities.prepareOutboundPush, {
        target,
        claimId,
        pushId,
        contactNumbers: ['0001', '0002'],
      });

      const staged = JSON.parse((await store.getStagedPush(pushId))?.body ?? '[]') as CrmContactRecord[];
      expect(staged.map((record) => [record.contactNumber, record.crmId])).toEqual([
        ['0001', undefined],
        ['0002', 'crm-9'],
      ]);
    });

    it('parks a contact S-360 does not know and one that cannot be mapped, and stages the rest', async () => {
      const { store, s360, activities } = setup(['0001', s360Contact('0003', null), '0004']);
      s360.failures.set(
        '0005',
        new PermanentError('S-360 getContactData: ACCESS_DENIED', { system: 'S-360', code: 'ACCESS_DENIED' }),
      );
      const { env, heartbeats } = environment();

      const result = await env.run(activities.prepareOutboundPush, {
        target,
        claimId,
        pushId,
        contactNumbers: ['0001', '0002', '0003', '0004', '0005'],
      });

      expect(result).toEqual({
        prepared: 2,
        parked: 3,
        stagedContactNumbers: ['0001', '0004'],
        heldRelays: [],
        echoes: 0,
      });
      expect(store.parked).toEqual([
        expect.objectContaining({
          contactNumber: '0002',
          code: 'NOT_FOUND',
          claimId,
          direction: 'outbound',
          target,
        }),
        expect.objectContaining({ contactNumber: '0003', code: 'INVALID_RECORD', field: 'LastName' }),
        expect.objectContaining({
          contactNumber: '0005',
          code: 'ACCESS_DENIED',
          reason: 'S-360 getContactData: ACCESS_DENIED',
        }),
      ]);
      const staged = await store.getStagedPush(pushId);
      expect(staged?.contactNumbers).toEqual(['0001', '0004']);
      const records = JSON.parse(staged?.body ?? '[]') as CrmContactRecord[];
      expect(records.map((record) => [record.contactNumber, record.fields.FirstName])).toEqual([
        ['0001', 'Anaïs'],
        ['0004', 'Anaïs'],
      ]);
      expect(heartbeats.map((progress) => [progress.done, progress.records.length, progress.parked])).toEqual(
        [
          [1, 1, 0],
          [2, 1, 1],
          [3, 1, 2],
          [4, 2, 2],
          [5, 2, 3],
        ],
      );
    });

    it('stages nothing when every contact is parked', async () => {
      const { store, activities } = setup([]);
      const { env } = environment();
      await expect(
        env.run(activities.prepareOutboundPush, { target, claimId, pushId, contactNumbers: ['9'] }),
      ).resolves.toEqual({ prepared: 0, parked: 1, stagedContactNumbers: [], heldRelays: [], echoes: 0 });
      expect(store.pushes.size).toBe(0);
    });

    it('returns the counts of a push already staged without fetching again', async () => {
      const { store, s360, activities } = setup(['1', '2']);
      await store.stagePush({ pushId, target, contactNumbers: ['1'], body: '[]' });
      const { env } = environment();
      await expect(
        env.run(activities.prepareOutboundPush, { target, claimId, pushId, contactNumbers: ['1', '2'] }),
      ).resolves.toEqual({ prepared: 1, parked: 1, stagedContactNumbers: ['1'], heldRelays: [], echoes: 0 });
      expect(s360.calls).toEqual([]);
    });

    it('resumes from the heartbeat details of the previous attempt', async () => {
      const { store, s360, activities } = setup(['1', '2', '3', '4']);
      const first: CrmContactRecord = {
        contactNumber: '1',
        entity: 'person',
        fields: { LastName: 'Name 1' },
        sourceModifiedAt: '2024-05-01T10:00:00.000Z',
      };
      const { env } = environment({ done: 2, records: [first], parked: 1 });

      const result = await env.run(activities.prepareOutboundPush, {
        target,
        claimId,
        pushId,
        contactNumbers: ['1', '2', '3', '4'],
      });

      expect(s360.calls).toEqual(['3', '4']);
      expect(result).toEqual({
        prepared: 3,
        parked: 1,
        stagedContactNumbers: ['1', '3', '4'],
        heldRelays: [],
        echoes: 0,
      });
      expect((await store.getStagedPush(pushId))?.contactNumbers).toEqual(['1', '3', '4']);
    });

    it('fails with a Throttled failure carrying Retry-After, after heartbeating the progress', async () => {
      const { store, s360, activities } = setup(['1', '2', '3']);
      s360.failures.set('2', new ThrottledError('S-360 throttled', 17_000, { system: 'S-360', status: 509 }));
      const { env, heartbeats } = environment();

      const failure = await failureOf(
        env.run(activities.prepareOutboundPush, { target, claimId, pushId, contactNumbers: ['1', '2', '3'] }),
      );

      expect(failure.type).toBe(FailureType.Throttled);
      expect(failure.nextRetryDelay).toBe(17_000);
      expect(heartbeats.at(-1)).toMatchObject({ done: 1, parked: 0 });
      expect(store.parked).toEqual([]);
      expect(store.pushes.size).toBe(0);
    });

    it('fails with a retryable Transient failure on a transient error', async () => {
      const { s360, activities } = setup(['1']);
      s360.failures.set('1', new TransientError('S-360 HTTP 500', { system: 'S-360', status: 500 }));
      const { env } = environment();
      const failure = await failureOf(
        env.run(activities.prepareOutboundPush, { target, claimId, pushId, contactNumbers: ['1'] }),
      );
      expect(failure.type).toBe(FailureType.Transient);
      expect(failure.nonRetryable).toBe(false);
    });

    it('acknowledges an echo of the synced state without staging it, and delivery saves the synced state', async () => {
      const { store, crm, activities } = setup(['0001', '0002']);
      const echo = defaultMapping.mapOutbound(s360Contact('0001'));
      if (!echo.ok) throw new Error(echo.reason);
      await store.saveSyncedStates({
        target,
        states: [{ contactNumber: '0001', fields: echo.record.fields }],
      });
      const { env } = environment();

      await expect(
        env.run(activities.prepareOutboundPush, {
          target,
          claimId,
          pushId,
          contactNumbers: ['0001', '0002'],
        }),
      ).resolves.toEqual({
        prepared: 1,
        parked: 0,
        stagedContactNumbers: ['0002'],
        heldRelays: [],
        echoes: 1,
      });
      expect(store.acknowledged).toEqual(['0001']);
      expect((await store.getStagedPush(pushId))?.contactNumbers).toEqual(['0002']);

      await env.run(activities.deliverOutboundPush, { target, claimId, pushId });
      expect(crm.pushes).toHaveLength(1);
      const pushed = crm.pushes[0]?.records ?? [];
      expect(pushed.map((record) => record.contactNumber)).toEqual(['0002']);
      expect(store.syncedStates.get('0002')).toEqual(pushed[0]?.fields);
      expect(store.syncedStates.get('0002')).toMatchObject({ LastName: 'Name 0002' });
      expect(store.syncedStates.get('0001')).toEqual(echo.record.fields);
    });

    it('stops when the activity is cancelled', async () => {
      const { s360, activities } = setup(['1', '2']);
      const { env } = environment();
      s360.getContactData = async (contactNumber: string) => {
        s360.calls.push(contactNumber);
        env.cancel();
        return s360Contact(contactNumber);
      };
      await expect(
        env.run(activities.prepareOutboundPush, { target, claimId, pushId, contactNumbers: ['1', '2'] }),
      ).rejects.toBeInstanceOf(CancelledFailure);
      expect(s360.calls).toEqual(['1']);
    });
  });

  describe('deliverOutboundPush', () => {
    const pushId = `${claimId}/0`;

    async function staged(store: MemorySyncStore, contactNumbers: string[]): Promise<void> {
      const records = contactNumbers.map((contactNumber) => ({
        contactNumber,
        entity: 'person',
        fields: { LastName: `Name ${contactNumber}` },
        sourceModifiedAt: '2024-05-01T10:00:00.000Z',
      }));
      await store.stagePush({ pushId, target, contactNumbers, body: JSON.stringify(records) });
    }

    it('acknowledges the records the CRM accepted and parks the ones it refused', async () => {
      const { store, crm, activities } = setup([]);
      await staged(store, ['01', '02', '03']);
      crm.answer = () => ({
        duplicate: false,
        records: [
          { contactNumber: '01', ok: true },
          { contactNumber: '02', ok: false, reason: 'Email: invalid domain' },
          { contactNumber: '03', ok: true },
        ],
      });
      const { env } = environment();

      const result = await env.run(activities.deliverOutboundPush, { target, claimId, pushId });

      expect(result).toEqual({ delivered: 2, rejected: 1, duplicate: false });
      expect(crm.pushes).toEqual([{ pushId, records: expect.any(Array) as unknown }]);
      expect(crm.pushes[0]?.records.map((record) => record.contactNumber)).toEqual(['01', '02', '03']);
      expect(store.acknowledged).toEqual(['01', '03']);
      expect(store.parked).toEqual([
        {
          direction: 'outbound',
          target,
          claimId,
          contactNumber: '02',
          code: 'REJECTED_BY_CRM',
          reason: 'Email: invalid domain',
        },
      ]);
      expect((await store.getStagedPush(pushId))?.deliveredAt).toBeDefined();
    });

    it('does not push again once the push is delivered', async () => {
      const { store, crm, activities } = setup([]);
      await staged(store, ['01', '02']);
      const { env } = environment();
      await env.run(activities.deliverOutboundPush, { target, claimId, pushId });
      await expect(env.run(activities.deliverOutboundPush, { target, claimId, pushId })).resolves.toEqual({
        delivered: 2,
        rejected: 0,
        duplicate: true,
      });
      expect(crm.pushes).toHaveLength(1);
      expect(store.acknowledged).toEqual(['01', '02']);
    });

    it('reports a push the CRM had already applied', async () => {
      const { store, crm, activities } = setup([]);
      await staged(store, ['01']);
      crm.answer = () => ({ duplicate: true });
      const { env } = environment();
      await expect(env.run(activities.deliverOutboundPush, { target, claimId, pushId })).resolves.toEqual({
        delivered: 1,
        rejected: 0,
        duplicate: true,
      });
      expect(store.acknowledged).toEqual(['01']);
    });

    it("fails as a Configuration error, parking nothing, when the CRM refuses crm-sync's credentials", async () => {
      const { store, crm, activities } = setup([]);
      await staged(store, ['01', '02']);
      crm.answer = () => {
        throw new PermanentError('CRM default POST /hooks/contacts: HTTP 401: bad signature', {
          system: 'CRM default',
          status: 401,
          code: 'UNAUTHORIZED',
        });
      };
      const { env } = environment();
      const failure = await failureOf(env.run(activities.deliverOutboundPush, { target, claimId, pushId }));
      expect(failure.type).toBe(FailureType.Configuration);
      expect(failure.nonRetryable).toBe(true);
      expect(failure.message).toBe(
        "CRM default refused crm-sync's credentials: CRM default POST /hooks/contacts: HTTP 401: bad signature " +
          '(check the configuration)',
      );
      expect(store.parked).toEqual([]);
      expect(store.acknowledged).toEqual([]);
    });

    it('parks every contact when the CRM refuses the whole push', async () => {
      const { store, crm, activities } = setup([]);
      await staged(store, ['01', '02']);
      crm.answer = () => {
        throw new PermanentError(
          'CRM default POST /hooks/contacts: HTTP 422: records[0].fields.Email is invalid',
          {
            system: 'CRM default',
            status: 422,
            code: 'UNPROCESSABLE',
          },
        );
      };
      const { env } = environment();

      await expect(env.run(activities.deliverOutboundPush, { target, claimId, pushId })).resolves.toEqual({
        delivered: 0,
        rejected: 2,
        duplicate: false,
      });
      expect(store.acknowledged).toEqual([]);
      expect(store.parked.map((parked) => [parked.contactNumber, parked.code, parked.reason])).toEqual([
        [
          '01',
          'REJECTED_BY_CRM',
          'CRM default POST /hooks/contacts: HTTP 422: records[0].fields.Email is invalid',
        ],
        [
          '02',
          'REJECTED_BY_CRM',
          'CRM default POST /hooks/contacts: HTTP 422: records[0].fields.Email is invalid',
        ],
      ]);
      expect((await store.getStagedPush(pushId))?.deliveredAt).toBeDefined();
    });

    it('leaves the push undelivered and fails with Throttled when the CRM throttles', async () => {
      const { store, crm, activities } = setup([]);
      await staged(store, ['01']);
      crm.answer = () => {
        throw new ThrottledError('CRM default throttled', 5_000, { system: 'CRM default', status: 503 });
      };
      const { env } = environment();
      const failure = await failureOf(env.run(activities.deliverOutboundPush, { target, claimId, pushId }));
      expect(failure.type).toBe(FailureType.Throttled);
      expect(failure.nextRetryDelay).toBe(5_000);
      expect(store.acknowledged).toEqual([]);
      expect((await store.getStagedPush(pushId))?.deliveredAt).toBeUndefined();
    });

    it('fails without retry for a target that has no adapter', async () => {
      const { store, activities } = setup([]);
      await store.stagePush({ pushId, target: 'unknown', contactNumbers: ['01'], body: '[]' });
      const { env } = environment();
      const failure = await failureOf(
        env.run(activities.deliverOutboundPush, { target: 'unknown', claimId, pushId }),
      );
      expect(failure.type).toBe(FailureType.Configuration);
      expect(failure.nonRetryable).toBe(true);
      expect(failure.message).toMatch(/No CRM adapter for target "unknown": unknown target unknown/);
    });

    it('fails without retry when the push was never staged', async () => {
      const { activities } = setup([]);
      const { env } = environment();
      const failure = await failureOf(env.run(activities.deliverOutboundPush, { target, claimId, pushId }));
      expect(failure.type).toBe(FailureType.Configuration);
      expect(failure.nonRetryable).toBe(true);
      expect(failure.message).toMatch(/No staged push/);
    });
  });

  describe('contacts deactivated or deleted in S-360 (seed 003)', () => {
    const prepare = async (activities: ReturnType<typeof setup>['activities'], contactNumbers: string[]) => {
      const { env } = environment();
      await env.run(activities.prepareOutboundPush, {
        target,
        claimId,
        pushId: `${claimId}/0`,
        contactNumbers,
      });
    };
    const stagedRecords = async (store: MemorySyncStore): Promise<CrmContactRecord[]> =>
      JSON.parse((await store.getStagedPush(`${claimId}/0`))?.body ?? '[]') as CrmContactRecord[];

    it('flags a deactivated contact by default, with its fields', async () => {
      const { store, activities } = setup([{ ...s360Contact('0501'), active: false }]);
      await prepare(activities, ['0501']);
      expect(await stagedRecords(store)).toEqual([
        expect.objectContaining({
          contactNumber: '0501',
          action: 'deactivate',
          fields: expect.objectContaining({ LastName: 'Name 0501' }),
        }),
      ]);
    });

    it('asks the CRM to delete it when the target is configured so', async () => {
      const { store, activities } = setup([{ ...s360Contact('0502'), active: false }], 'delete');
      await prepare(activities, ['0502']);
      expect(await stagedRecords(store)).toEqual([
        expect.objectContaining({ contactNumber: '0502', entity: 'person', action: 'delete', fields: {} }),
      ]);
    });

    it('removes from the CRM a contact deleted in S-360 that the CRM holds, and parks one it never got', async () => {
      const { store, activities } = setup([], 'delete');
      await store.recordSynced({ target, records: [{ contactNumber: '0503', entity: 'account' }] });
      await prepare(activities, ['0503', '0504']);
      expect(await stagedRecords(store)).toEqual([
        expect.objectContaining({ contactNumber: '0503', entity: 'account', action: 'delete' }),
      ]);
      expect(store.parked).toEqual([expect.objectContaining({ contactNumber: '0504', code: 'NOT_FOUND' })]);
    });
  });

  describe('relays and their structure (referential integrity)', () => {
    const structure = (contactNumber: string): S360Contact =>
      s360ContactSchema.parse({
        contactNumber,
        contactType: 'STRUCTURE',
        general: { organizationName: 'Théâtre du Léman' },
        lastModificationDate: '2024-05-01T10:00:00.000Z',
      });
    const relay = (contactNumber: string, structureContactNumber: string): S360Contact => ({
      ...s360Contact(contactNumber),
      role: 'RELAY',
      structureContactNumber,
    });

    it('holds back a relay until its account is in the CRM, and puts accounts first', async () => {
      const { store, crm, activities } = setup([structure('0100'), relay('0101', '0100'), '0102']);
      const { env } = environment();
      const first = await env.run(activities.prepareOutboundPush, {
        target,
        claimId,
        pushId: `${claimId}/0`,
        contactNumbers: ['0101', '0102', '0100'],
      });
      expect(first).toEqual({
        prepared: 2,
        parked: 0,
        stagedContactNumbers: ['0100', '0102'],
        heldRelays: [{ contactNumber: '0101', accountContactNumber: '0100' }],
        echoes: 0,
      });
      // A retried prepare answers the same from the staged push.
      await expect(
        env.run(activities.prepareOutboundPush, {
          target,
          claimId,
          pushId: `${claimId}/0`,
          contactNumbers: ['0101', '0102', '0100'],
        }),
      ).resolves.toEqual(first);

      await env.run(activities.deliverOutboundPush, { target, claimId, pushId: `${claimId}/0` });
      expect(crm.pushes[0]?.records.map((record) => record.contactNumber)).toEqual(['0100', '0102']);
      expect([...store.synced.entries()]).toEqual([
        ['0100', 'account'],
        ['0102', 'person'],
      ]);

      const second = await env.run(activities.prepareOutboundPush, {
        target,
        claimId,
        pushId: `${claimId}/relays-0`,
        contactNumbers: ['0101'],
      });
      expect(second).toMatchObject({
        prepared: 1,
        stagedContactNumbers: ['0101'],
        heldRelays: [],
        echoes: 0,
      });
    });

    it('gives waiting relays back to the outbox and queues their structure', async () => {
      const { store, activities } = setup([]);
      await store.enqueue({ direction: 'outbound', targets: [target], contactNumbers: ['0201'] });
      await store.claim({ direction: 'outbound', target, claimId, limit: 10 });
      const { env } = environment();
      await expect(
        env.run(activities.releaseHeldRelays, {
          target,
          claimId,
          relays: [{ contactNumber: '0201', accountContactNumber: '0200' }],
        }),
      ).resolves.toEqual({ released: 1, parked: 0 });
      expect(store.released).toEqual(['0201']);
      expect(store.enqueued).toContain('0200');
      expect(store.pending.get('0201')?.claimId).toBeUndefined();
    });

    it('parks a relay whose structure is parked, naming the structure and its reason', async () => {
      const { store, activities } = setup([]);
      await store.park({
        direction: 'outbound',
        target,
        contactNumber: '0300',
        code: 'NOT_FOUND',
        reason: 'unknown in S-360',
      });
      const { env } = environment();
      await expect(
        env.run(activities.releaseHeldRelays, {
          target,
          claimId,
          relays: [{ contactNumber: '0301', accountContactNumber: '0300' }],
        }),
      ).resolves.toEqual({ released: 0, parked: 1 });
      expect(store.parked[1]).toMatchObject({
        contactNumber: '0301',
        code: 'ACCOUNT_NOT_SYNCED',
        reason: expect.stringContaining('its structure 0300 is parked (NOT_FOUND: unknown in S-360)'),
      });
    });
  });

  it('parks the contacts a run gave up on', async () => {
    const { store, activities } = setup([]);
    const { env } = environment();
    await expect(
      env.run(activities.parkOutboundContacts, {
        target,
        claimId,
        contactNumbers: ['7', '8'],
        code: 'RETRIES_EXHAUSTED',
        reason: 'S-360 unreachable',
      }),
    ).resolves.toEqual({ parked: 2 });
    expect(store.parked).toEqual([
      {
        direction: 'outbound',
        target,
        claimId,
        contactNumber: '7',
        code: 'RETRIES_EXHAUSTED',
        reason: 'S-360 unreachable',
      },
      {
        direction: 'outbound',
        target,
        claimId,
        contactNumber: '8',
        code: 'RETRIES_EXHAUSTED',
        reason: 'S-360 unreachable',
      },
    ]);
  });
});
