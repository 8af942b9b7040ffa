import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { createInboundActivities, InboundParkCode } from '../../../src/activities/inbound-activities';
import { toInboundChange } from '../../../src/adapters/crm/crm-change-event';
import { TransientError } from '../../../src/adapters/http/errors';
import { s360ContactSchema, type S360Contact } from '../../../src/adapters/s360/s360-contact';
import { FailureType } from '../../../src/failure-types';
import type { MappingPlan } from '../../../src/mapping/compile-mapping';
import { defaultMappingFile, loadMapping, parseMapping } from '../../../src/mapping/load-mapping';
import type { InboundChange, SyncedFieldValue } from '../../../src/store/sync-store';
import { environment, FakeS360, MemorySyncStore } from '../../helpers/activity-fakes';

const target = 'default';
const claimId = 'inbound-sync:default/run-1';
const defaultMapping = loadMapping();
const defaultMappingText = readFileSync(defaultMappingFile, 'utf8');

/** An individual as S-360 holds it: Mrs. Anaïs Muller, who accepts e-mail. */
function individual(contactNumber: string): S360Contact {
  return s360ContactSchema.parse({
    contactNumber,
    contactType: 'INDIVIDUAL',
    role: 'PUBLIC',
    general: { title: 'MRS', firstName: 'Anaïs', lastName: 'Muller' },
    comMeans: { email: `c${contactNumber}@example.org` },
    authorizations: [{ code: 'EMAIL', value: true }],
    lastModificationDate: '2024-05-01T10:00:00.000Z',
  });
}

/** The CRM fields of a contact, as crm-sync pushes them. */
function crmFields(contact: S360Contact): Record<string, SyncedFieldValue> {
  const mapped = defaultMapping.mapOutbound(contact);
  if (!mapped.ok) throw new Error(`cannot map ${contact.contactNumber}: ${mapped.reason}`);
  return mapped.record.fields;
}

function changed(
  contactNumber: string,
  fields: Record<string, SyncedFieldValue>,
  changedAt = '2024-06-01T08:00:00.000Z',
): Omit<InboundChange, 'receivedAt'> {
  return { target, contactNumber, kind: 'changed', entity: 'person', fields, changedAt };
}

function setup(contacts: S360Contact[], mapping: MappingPlan = defaultMapping) {
  const store = new MemorySyncStore();
  const s360 = new FakeS360(new Map(contacts.map((contact) => [contact.contactNumber, contact])));
  const activities = createInboundActivities({ store, s360, mapping });
  /** Stores the CRM changes and claims their contacts under the run's claim, as the workflow does. */
  const receive = async (...changes: Array<Omit<InboundChange, 'receivedAt'>>): Promise<string[]> => {
    for (const change of changes) await store.recordInboundChange(change);
    const claimed = await store.claim({ direction: 'inbound', target, claimId, limit: 50 });
    return claimed.map((entry) => entry.contactNumber);
  };
  const apply = (contactNumbers: string[]) =>
    environment<string>().env.run(activities.applyInboundChanges, { target, claimId, contactNumbers });
  return { store, s360, activities, receive, apply };
}

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(ApplicationFailure);
  return error as ApplicationFailure;
}

const counts = { applied: 0, created: 0, deleted: 0, echoes: 0, unchanged: 0, parked: 0 };

describe('inbound activities', () => {
  it('claims inbound changes under the run claim', async () => {
    const { store, activities, receive } = setup([]);
    for (const contactNumber of ['1', '2', '3']) await store.recordInboundChange(changed(contactNumber, {}));
    const claim = jest.spyOn(store, 'claim');
    const { env } = environment();
    await expect(env.run(activities.claimInboundChanges, { target, claimId, limit: 2 })).resolves.toEqual({
      contactNumbers: ['1', '2'],
    });
    expect(claim).toHaveBeenCalledWith({ direction: 'inbound', target, claimId, limit: 2 });
    expect(store.pending.get('2')?.claimId).toBe(claimId);
    expect(store.pending.get('3')?.claimId).toBeUndefined();
    // A retried claim returns the same contacts.
    await expect(receive()).resolves.toEqual(['1', '2']);
  });

  describe('applyInboundChanges', () => {
    it('writes the changed sections to S-360, acknowledges, and saves the new state as synced', async () => {
      const before = individual('0001');
      const { store, s360, receive, apply } = setup([before]);
      await store.saveSyncedStates({
        target,
        states: [{ contactNumber: '0001', fields: crmFields(before) }],
      });
      const contactNumbers = await receive(
        changed('0001', { ...crmFields(before), FirstName: 'Zoé', HasOptedOutOfEmail: true }),
      );

      await expect(apply(contactNumbers)).resolves.toEqual({ ...counts, applied: 1 });

      expect(s360.saves).toEqual([
        {
          contactNumber: '0001',
          // The sections that changed; only the fields the CRM changed are written into them.
          general: { ...before.general, firstName: 'Zoé' },
          authorizations: [{ code: 'EMAIL', value: false }],
        },
      ]);
      expect(store.acknowledged).toEqual(['0001']);
      expect(store.pending.size).toBe(0);
      const updated: S360Contact = {
        ...before,
        general: { ...before.general, firstName: 'Zoé' },
        authorizations: [{ code: 'EMAIL', value: false }],
      };
      expect(store.syncedStates.get('0001')).toEqual(crmFields(updated));
      expect(store.syncedStates.get('0001')).toMatchObject({ FirstName: 'Zoé', HasOptedOutOfEmail: true });
    });

    describe('both sides changed since the last sync (three-way merge)', () => {
      /** S-360 changed the first name, the CRM the first name and the phone, after they last agreed. */
      async function bothChanged(owner: 's360' | 'crm' | 'latest', crmChangedAt: string) {
        const agreed = individual('0009');
        const mapping = parseMapping(
          defaultMappingText.replace(
            /(- crm: FirstName\n\s+s360: general.firstName\n)/,
            `$1    owner: ${owner}\n`,
          ),
          'owner.yaml',
        );
        const s360Side: S360Contact = {
          ...agreed,
          general: { ...agreed.general, firstName: 'Zoë' },
          lastModificationDate: '2024-06-01T12:00:00.000Z',
        };
        const { store, s360, receive, apply } = setup([s360Side], mapping);
        await store.saveSyncedStates({
          target,
          states: [{ contactNumber: '0009', fields: crmFields(agreed) }],
        });
        const contactNumbers = await receive(
          changed(
            '0009',
            { ...crmFields(agreed), FirstName: 'Zoé', Phone: '+41 22 111 11 11' },
            crmChangedAt,
          ),
        );
        await expect(apply(contactNumbers)).resolves.toMatchObject({ applied: 1, parked: 0 });
        return { store, s360, agreed };
      }

      it('lets the owner decide a field both changed, takes the other side-only change, and records it', async () => {
        const { store, s360 } = await bothChanged('s360', '2024-06-02T00:00:00.000Z');
        expect(s360.saves[0]?.general?.firstName).toBeUndefined();
        expect(s360.saves[0]?.comMeans?.phone).toBe('+41 22 111 11 11');
        expect(store.conflicts).toEqual([
          expect.objectContaining({
            contactNumber: '0009',
            field: 'FirstName',
            s360Value: 'Zoë',
            crmValue: 'Zoé',
            policy: 's360',
            winner: 's360',
          }),
        ]);
        // The CRM still holds its value: the synced state keeps it, so the outbound sync sends S-360's.
        expect(store.syncedStates.get('0009')).toMatchObject({ FirstName: 'Zoé', Phone: '+41 22 111 11 11' });
      });

      it('writes the CRM value when the CRM owns the field', async () => {
        const { store, s360 } = await bothChanged('crm', '2024-01-01T00:00:00.000Z');
        expect(s360.saves[0]?.general?.firstName).toBe('Zoé');
        expect(store.conflicts).toEqual([expect.objectContaining({ policy: 'crm', winner: 'crm' })]);
      });

      it('takes the most recent change by default', async () => {
        const later = await bothChanged('latest', '2024-06-02T00:00:00.000Z');
        expect(later.store.conflicts).toEqual([expect.objectContaining({ policy: 'latest', winner: 'crm' })]);
        const earlier = await bothChanged('latest', '2024-05-31T00:00:00.000Z');
        expect(earlier.store.conflicts).toEqual([
          expect.objectContaining({ policy: 'latest', winner: 's360' }),
        ]);
        expect(earlier.s360.saves[0]?.general?.firstName).toBeUndefined();
      });
    });

    it('sends nothing back for an echo of what crm-sync synced', async () => {
      const contact = individual('0002');
      const { store, s360, receive, apply } = setup([contact]);
      const synced = crmFields(contact);
      await store.saveSyncedStates({ target, states: [{ contactNumber: '0002', fields: synced }] });
      // Equal on every inbound field; an outbound-only field (LeadSource) does not count.
      const contactNumbers = await receive(changed('0002', { ...synced, LeadSource: 'Web' }));

      await expect(apply(contactNumbers)).resolves.toEqual({ ...counts, echoes: 1 });

      expect(s360.calls).toEqual([]);
      expect(s360.saves).toEqual([]);
      expect(store.acknowledged).toEqual(['0002']);
      expect(store.syncedStates.get('0002')).toEqual(synced);
    });

    it('counts a change that maps to nothing new as unchanged, without saving', async () => {
      const contact = individual('0003');
      const { store, s360, receive, apply } = setup([contact]);
      const contactNumbers = await receive(changed('0003', crmFields(contact)));

      await expect(apply(contactNumbers)).resolves.toEqual({ ...counts, unchanged: 1 });

      expect(s360.calls).toEqual(['0003']);
      expect(s360.saves).toEqual([]);
      expect(store.acknowledged).toEqual(['0003']);
      expect(store.syncedStates.get('0003')).toEqual(crmFields(contact));
    });

    it('flags the S-360 contact of a record deleted in the CRM as inactive', async () => {
      const { store, s360, receive, apply } = setup([individual('0004')]);
      const contactNumbers = await receive({ ...changed('0004', {}), kind: 'deleted' });

      await expect(apply(contactNumbers)).resolves.toEqual({ ...counts, deleted: 1 });

      expect(s360.saves).toEqual([{ contactNumber: '0004', active: false }]);
      expect(store.acknowledged).toEqual(['0004']);
    });

    it('parks a contact S-360 does not know as NOT_FOUND', async () => {
      const { store, s360, receive, apply } = setup([]);
      const contactNumbers = await receive(changed('0005', { FirstName: 'Zoé', LastName: 'Muller' }));

      await expect(apply(contactNumbers)).resolves.toEqual({ ...counts, parked: 1 });

      expect(s360.saves).toEqual([]);
      expect(store.acknowledged).toEqual([]);
      expect(store.parked).toEqual([
        expect.objectContaining({
          direction: 'inbound',
          target,
          claimId,
          contactNumber: '0005',
          code: 'NOT_FOUND',
        }),
      ]);
    });

    it('leaves the S-360 title as it is for a salutation not in the table', async () => {
      const contact = individual('0006');
      const { s360, receive, apply } = setup([contact]);
      const contactNumbers = await receive(
        changed('0006', { ...crmFields(contact), Salutation: 'Dr.', FirstName: 'Zoé' }),
      );

      await expect(apply(contactNumbers)).resolves.toEqual({ ...counts, applied: 1 });

      expect(s360.saves).toEqual([
        {
          contactNumber: '0006',
          general: { ...contact.general, title: 'MRS', firstName: 'Zoé', birthDate: null },
        },
      ]);
    });

    it('parks a CRM value that cannot be mapped as INVALID_RECORD, naming the field', async () => {
      const contact = individual('0007');
      const { store, s360, receive, apply } = setup([contact]);
      const contactNumbers = await receive(
        changed('0007', { ...crmFields(contact), Birthdate: '31.12.1990' }),
      );

      await expect(apply(contactNumbers)).resolves.toEqual({ ...counts, parked: 1 });

      expect(s360.saves).toEqual([]);
      expect(store.acknowledged).toEqual([]);
      expect(store.parked).toEqual([
        expect.objectContaining({
          direction: 'inbound',
          contactNumber: '0007',
          code: 'INVALID_RECORD',
          field: 'Birthdate',
          reason: expect.stringContaining('Birthdate') as unknown,
        }),
      ]);
      expect(store.syncedStates.has('0007')).toBe(false);
    });

    it('fails as retryable on a transient S-360 error, keeping the contacts handled before acknowledged', async () => {
      const contacts = ['0011', '0012', '0013'].map(individual);
      const { store, s360, receive, apply } = setup(contacts);
      s360.failures.set('0012', new TransientError('S-360 HTTP 503', { system: 'S-360', status: 503 }));
      const contactNumbers = await receive(
        ...contacts.map((contact) =>
          changed(contact.contactNumber, { ...crmFields(contact), FirstName: 'Zoé' }),
        ),
      );

      const failure = await failureOf(apply(contactNumbers));

      expect(failure.type).toBe(FailureType.Transient);
      expect(failure.nonRetryable).toBe(false);
      expect(s360.calls).toEqual(['0011', '0012']);
      expect(s360.saves.map((save) => save.contactNumber)).toEqual(['0011']);
      expect(store.acknowledged).toEqual(['0011']);
      expect(store.parked).toEqual([]);
      expect([...store.pending.keys()]).toEqual(['0012', '0013']);
    });
  });

  describe('records created in the CRM', () => {
    /** A change of a record a CRM user created: no contact number yet, queued under its crmId. */
    const created = (
      crmId: string,
      entity: 'person' | 'account' | 'relay',
      fields: Record<string, SyncedFieldValue>,
      changedAt = '2024-06-01T08:00:00.000Z',
    ): Omit<InboundChange, 'receivedAt'> =>
      toInboundChange(target, {
        type: 'contact.changed',
        data: { record: { crmId, entity, fields, modifiedAt: changedAt } },
      });

    it('creates the contact in S-360, links it to the CRM record and queues it for the outbound sync', async () => {
      const { store, s360, receive, apply } = setup([]);
      const contactNumbers = await receive(
        created('crm-1', 'person', {
          Salutation: 'Mrs.',
          FirstName: 'Léa',
          LastName: 'Favre',
          Email: 'lea.favre@example.org',
          HasOptedOutOfEmail: false,
          MailingCity: 'Lausanne',
        }),
        created('crm-2', 'account', { Name: 'Théâtre du Léman', BillingCity: 'Genève' }),
      );
      expect(contactNumbers).toEqual(['crm:crm-1', 'crm:crm-2']);

      await expect(apply(contactNumbers)).resolves.toEqual({ ...counts, created: 2 });

      expect(s360.created).toEqual([
        expect.objectContaining({
          contactType: 'INDIVIDUAL',
          role: 'PUBLIC',
          general: expect.objectContaining({ title: 'MRS', firstName: 'Léa', lastName: 'Favre' }) as unknown,
          comMeans: expect.objectContaining({ email: 'lea.favre@example.org' }) as unknown,
          authorizations: [{ code: 'EMAIL', value: true }],
          addresses: [expect.objectContaining({ town: 'Lausanne' })],
        }),
        expect.objectContaining({
          contactType: 'STRUCTURE',
          general: expect.objectContaining({ organizationName: 'Théâtre du Léman' }) as unknown,
        }),
      ]);
      expect(s360.created[1]).not.toHaveProperty('role');
      expect(s360.saves).toEqual([]);
      expect(await store.contactNumberOfCrmId({ target, crmId: 'crm-1' })).toBe('9000001');
      expect(await store.contactNumberOfCrmId({ target, crmId: 'crm-2' })).toBe('9000002');
      expect(await store.getCrmLinks({ target, contactNumbers: ['9000001', '9000002'] })).toEqual(
        new Map([
          ['9000001', { entity: 'person', crmId: 'crm-1' }],
          ['9000002', { entity: 'account', crmId: 'crm-2' }],
        ]),
      );
      expect(store.acknowledged).toEqual(['crm:crm-1', 'crm:crm-2']);
      expect(store.enqueued).toEqual(['9000001', '9000002']);
      // Not synced yet: the outbound sync pushes the new contact, with its number, instead of taking it for an echo.
      expect(store.syncedStates.size).toBe(0);
    });

    it('does not create the contact twice: a retry or a later edit of the same record updates it', async () => {
      const { store, s360, receive, apply } = setup([]);
      await apply(await receive(created('crm-3', 'person', { FirstName: 'Noé', LastName: 'Rochat' })));
      expect(s360.created).toHaveLength(1);

      // The same change again (an activity retried after the creation), then a second edit in the CRM.
      await expect(
        apply(await receive(created('crm-3', 'person', { FirstName: 'Noé', LastName: 'Rochat' }))),
      ).resolves.toMatchObject({ created: 0, parked: 0 });
      await expect(
        apply(
          await receive(
            created(
              'crm-3',
              'person',
              { FirstName: 'Noé', LastName: 'Rochat-Blanc' },
              '2024-06-02T08:00:00Z',
            ),
          ),
        ),
      ).resolves.toEqual({ ...counts, applied: 1 });

      expect(s360.created).toHaveLength(1);
      expect(s360.saves).toEqual([
        expect.objectContaining({
          contactNumber: '9000001',
          general: expect.objectContaining({ lastName: 'Rochat-Blanc' }) as unknown,
        }),
      ]);
      // Still no synced state: the outbound sync must push the contact to the CRM record, not take it for an echo.
      expect(store.syncedStates.size).toBe(0);
      expect(store.pending.has('crm:crm-3')).toBe(false);
    });

    it('parks a relay created in the CRM, and a record that does not map', async () => {
      const { store, s360, receive, apply } = setup([]);
      const contactNumbers = await receive(
        created('crm-4', 'relay', { FirstName: 'Ines', LastName: 'Berset' }),
        created('crm-5', 'person', { LastName: 'Berset', Birthdate: 'not a date' }),
      );

      await expect(apply(contactNumbers)).resolves.toEqual({ ...counts, parked: 2 });

      expect(s360.created).toEqual([]);
      expect(store.parked).toEqual([
        expect.objectContaining({
          contactNumber: 'crm:crm-4',
          code: InboundParkCode.RelayNeedsStructure,
          reason: expect.stringContaining('needs its structure') as unknown,
        }),
        expect.objectContaining({ contactNumber: 'crm:crm-5', code: 'INVALID_RECORD', field: 'Birthdate' }),
      ]);
      expect(await store.contactNumberOfCrmId({ target, crmId: 'crm-4' })).toBeUndefined();
    });
  });

  it('parks the contacts a run gave up on, as inbound', async () => {
    const { store, activities, receive } = setup([]);
    await receive(changed('7', {}), changed('8', {}));
    const { env } = environment();
    await expect(
      env.run(activities.parkInboundContacts, {
        target,
        claimId,
        contactNumbers: ['7', '8'],
        code: 'RETRIES_EXHAUSTED',
        reason: 'S-360 unreachable',
      }),
    ).resolves.toEqual({ parked: 2 });
    expect(store.parked).toEqual(
      ['7', '8'].map((contactNumber) => ({
        direction: 'inbound',
        target,
        claimId,
        contactNumber,
        code: 'RETRIES_EXHAUSTED',
        reason: 'S-360 unreachable',
      })),
    );
  });
});
