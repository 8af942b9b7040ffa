import { ApplicationFailure } from '@temporalio/common';
import type { CrmAdapter, CrmChangesPage, CrmListChangesInput } from '../../../src/adapters/crm/crm-adapter';
import type { CrmChangeEvent } from '../../../src/adapters/crm/crm-change-event';
import { TransientError } from '../../../src/adapters/http/errors';
import { createPollActivities, maxPollPagesPerCall } from '../../../src/activities/poll-activities';
import { FailureType } from '../../../src/failure-types';
import { environment, MemorySyncStore } from '../../helpers/activity-fakes';
import { rejection } from '../../helpers/rejection';

const target = 'default';

function changed(
  contactNumber: string,
  lastName: string,
  modifiedAt = '2024-06-01T08:00:00.000Z',
): CrmChangeEvent {
  return {
    type: 'contact.changed',
    data: { record: { contactNumber, entity: 'person', fields: { LastName: lastName }, modifiedAt } },
  };
}
function deleted(contactNumber: string): CrmChangeEvent {
  return {
    type: 'contact.deleted',
    data: { contactNumber, entity: 'account', deletedAt: '2024-06-02T09:00:00.000Z' },
  };
}

/** A CRM whose change list is `events`, the cursor being the count of events read. */
class FakeListingCrm implements CrmAdapter {
  readonly target = target;
  readonly calls: CrmListChangesInput[] = [];
  failure: Error | undefined;
  constructor(
    readonly events: CrmChangeEvent[],
    readonly changesPageSize = 2,
  ) {}
  async pushContacts(): Promise<never> {
    throw new Error('not used');
  }
  listChanges = async (input: CrmListChangesInput): Promise<CrmChangesPage> => {
    this.calls.push(input);
    if (this.failure) throw this.failure;
    const after = Number(input.after ?? 0);
    const changes = this.events.slice(after, after + input.limit);
    return { changes, next: String(after + changes.length) };
  };
}

function setup(adapter: CrmAdapter) {
  const store = new MemorySyncStore();
  const activities = createPollActivities({ store, crmAdapter: () => adapter });
  const poll = () => {
    const { env, heartbeats } = environment();
    return { heartbeats, result: env.run(activities.pollCrmChanges, { target }) };
  };
  return { store, poll };
}

describe('pollCrmChanges', () => {
  it('does nothing for a target whose adapter cannot list changes', async () => {
    const adapter: CrmAdapter = { target, pushContacts: async () => ({ duplicate: false }) };
    const { store, poll } = setup(adapter);
    const { result, heartbeats } = poll();
    await expect(result).resolves.toEqual({ received: 0, pages: 0 });
    expect(heartbeats).toEqual([]);
    expect(store.cursors.size).toBe(0);
    expect(store.inboundChanges.size).toBe(0);
  });

  it('reads pages from the start until one is empty, recording each change and saving the cursor per page', async () => {
    const crm = new FakeListingCrm([changed('0001', 'Muller'), deleted('0002'), changed('0003', 'Ødegård')]);
    const { store, poll } = setup(crm);
    const cursors: string[] = [];
    const save = store.savePollCursor.bind(store);
    store.savePollCursor = async (t, cursor) => {
      cursors.push(cursor);
      await save(t, cursor);
    };
    const { result, heartbeats } = poll();
    await expect(result).resolves.toEqual({ received: 3, pages: 3 });
    expect(crm.calls).toEqual([{ limit: 2 }, { after: '2', limit: 2 }, { after: '3', limit: 2 }]);
    expect(cursors).toEqual(['2', '3']);
    expect(store.cursors.get(target)).toBe('3');
    expect(heartbeats).toHaveLength(3);
    expect(store.inboundChanges.get('0001')).toEqual({
      target,
      contactNumber: '0001',
      kind: 'changed',
      entity: 'person',
      fields: { LastName: 'Muller' },
      changedAt: '2024-06-01T08:00:00.000Z',
      receivedAt: '2024-06-01T08:00:00.000Z',
    });
    expect(store.inboundChanges.get('0002')).toMatchObject({
      kind: 'deleted',
      entity: 'account',
      fields: {},
      changedAt: '2024-06-02T09:00:00.000Z',
    });
    expect([...store.pending.keys()]).toEqual(['0001', '0002', '0003']);
  });

  it('goes on from the stored cursor, and reads one empty page when nothing changed', async () => {
    const crm = new FakeListingCrm([changed('0001', 'A'), changed('0002', 'B'), changed('0003', 'C')]);
    const { store, poll } = setup(crm);
    await store.savePollCursor(target, '2');
    await expect(poll().result).resolves.toEqual({ received: 1, pages: 2 });
    expect([...store.inboundChanges.keys()]).toEqual(['0003']);
    crm.calls.length = 0;
    await expect(poll().result).resolves.toEqual({ received: 0, pages: 1 });
    expect(crm.calls).toEqual([{ after: '3', limit: 2 }]);
    expect(store.cursors.get(target)).toBe('3');
  });

  it(`reads at most ${maxPollPagesPerCall} pages per call, the rest on the next one`, async () => {
    const events = Array.from({ length: 45 }, (_, i) => changed(String(1000 + i), `N${i}`));
    const crm = new FakeListingCrm(events);
    const { store, poll } = setup(crm);
    await expect(poll().result).resolves.toEqual({ received: 40, pages: maxPollPagesPerCall });
    expect(store.cursors.get(target)).toBe('40');
    await expect(poll().result).resolves.toEqual({ received: 5, pages: 4 });
    expect(store.inboundChanges.size).toBe(45);
  });

  it('keeps the cursor of the pages read when the CRM fails, translated for the retry policy', async () => {
    const crm = new FakeListingCrm([changed('0001', 'A'), changed('0002', 'B'), changed('0003', 'C')]);
    const { store, poll } = setup(crm);
    const listChanges = crm.listChanges;
    crm.listChanges = async (input) => {
      if (input.after === '2')
        throw new TransientError('CRM default GET /changes: HTTP 502', { system: 'CRM' });
      return listChanges(input);
    };
    const failure = await rejection(poll().result);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).type).toBe(FailureType.Transient);
    expect(store.cursors.get(target)).toBe('2');
    expect([...store.inboundChanges.keys()]).toEqual(['0001', '0002']);
  });

  it('fails without retry for an unknown target', async () => {
    const store = new MemorySyncStore();
    const activities = createPollActivities({
      store,
      crmAdapter: (name) => {
        throw new Error(`Unknown CRM target "${name}"`);
      },
    });
    const failure = (await rejection(
      environment().env.run(activities.pollCrmChanges, { target: 'nope' }),
    )) as ApplicationFailure;
    expect(failure.type).toBe(FailureType.Configuration);
    expect(failure.nonRetryable).toBe(true);
  });
});
