import { createActivities } from '../../../src/activities';
import type { ListingProgress, PageProgress } from '../../../src/activities/import-activities';
import type { ListImportContactsResult } from '../../../src/activities/import-activity-types';
import type { CrmAdapter, CrmPush, CrmPushResult } from '../../../src/adapters/crm/crm-adapter';
import { loadMapping } from '../../../src/mapping/load-mapping';
import { environment, FakeS360, MemorySyncStore, s360Contact } from '../../helpers/activity-fakes';

class FakeCrm implements CrmAdapter {
  readonly target = 'default';
  readonly pushes: CrmPush[] = [];
  /** webhook-ids (push IDs) already applied: a resend is a duplicate. */
  readonly applied = new Set<string>();
  async pushContacts(push: CrmPush): Promise<CrmPushResult> {
    this.pushes.push(push);
    const duplicate = this.applied.has(push.pushId);
    this.applied.add(push.pushId);
    return { duplicate };
  }
}

const target = 'default';
const mapping = loadMapping();
const listId = 'import:default/run-1/individuals';
const claimId = 'import:default/run-1/individuals/0';
const number = (n: number): string => String(n).padStart(10, '0');

function setup(count: number) {
  const store = new MemorySyncStore();
  const contacts = Array.from({ length: count }, (_, i) => s360Contact(number(i + 1)));
  const s360 = new FakeS360(new Map(contacts.map((contact) => [contact.contactNumber, contact])));
  const crm = new FakeCrm();
  const activities = createActivities({
    store,
    s360,
    mapping,
    mapContact: (contact) => mapping.mapOutbound(contact),
    crmAdapter: () => crm,
  });
  return { store, s360, crm, activities };
}

const page = (count: number) => ({ target, listId, claimId, fromSeq: 0, count, payloadSize: 50 });

describe('listImportContacts', () => {
  it('lists every contact of the search, page by page', async () => {
    const { store, s360, activities } = setup(120);
    const result = await environment().env.run(activities.listImportContacts, {
      listId,
      criteria: { contactType: 'INDIVIDUAL' as const },
      searchPageSize: 50,
    });
    expect(result).toEqual({ listed: 120, relisted: 0 });
    expect(s360.searches.map((search) => search.page?.offset)).toEqual([0, 50, 100]);
    expect(s360.searches.every((search) => search.criteria.contactType === 'INDIVIDUAL')).toBe(true);
    expect(await store.getImportContacts({ listId, fromSeq: 118, limit: 5 })).toEqual([
      number(119),
      number(120),
    ]);
  });

  it('lists again when a contact is deleted meanwhile, so that none shifted past a page is missed', async () => {
    const { store, s360, activities } = setup(100);
    const search = s360.searchContact.bind(s360);
    // Contact 10 is deleted while the second page is read: every later contact moves up by one.
    s360.searchContact = async (criteria, requested) => {
      if (requested?.offset === 50) s360.remove(number(10));
      return search(criteria, requested);
    };
    const result: ListImportContactsResult = await environment().env.run(activities.listImportContacts, {
      listId,
      criteria: {},
      searchPageSize: 50,
    });
    expect(result.relisted).toBe(1);
    const listed = await store.getImportContacts({ listId, fromSeq: 0, limit: 200 });
    // Contact 51 moved to position 50, read with the first page: the second pass finds it.
    expect(listed).toContain(number(51));
    expect(new Set(listed).size).toBe(listed.length);
    expect(result.listed).toBe(listed.length);
  });

  it('resumes after its last heartbeat', async () => {
    const { s360, activities } = setup(120);
    const progress: ListingProgress = { offset: 100, totalAtStart: 120, relisted: 0 };
    await environment(progress).env.run(activities.listImportContacts, {
      listId,
      criteria: {},
      searchPageSize: 50,
    });
    expect(s360.searches.map((search) => search.page?.offset)).toEqual([100]);
  });
});

describe('importContactPage', () => {
  it('pushes the page in payloads of at most 50 and acknowledges it', async () => {
    const { store, crm, activities } = setup(120);
    await store.addImportContacts({
      listId,
      contactNumbers: Array.from({ length: 120 }, (_, i) => number(i + 1)),
    });
    const result = await environment().env.run(activities.importContactPage, page(120));

    expect(result).toMatchObject({
      contacts: 120,
      imported: 120,
      pushes: 3,
      parked: 0,
      leftToOutboundSync: 0,
    });
    expect(crm.pushes.map((push) => push.records.length)).toEqual([50, 50, 20]);
    expect(crm.pushes.map((push) => push.pushId)).toEqual([`${claimId}/0`, `${claimId}/1`, `${claimId}/2`]);
    expect(store.pending.size).toBe(0);
  });

  it("on a page's first try, holds the whole page at once and reads no staged push back", async () => {
    const { store, crm, activities } = setup(120);
    await store.addImportContacts({
      listId,
      contactNumbers: Array.from({ length: 120 }, (_, i) => number(i + 1)),
    });
    await store.enqueue({ direction: 'outbound', targets: [target], contactNumbers: [number(7)] });
    await store.claim({ direction: 'outbound', target, claimId: 'outbound-sync:default/run-9', limit: 1 });
    const claims = jest.spyOn(store, 'claimForImport');
    const lookups = jest.spyOn(store, 'getStagedPush');

    const result = await environment().env.run(activities.importContactPage, {
      ...page(120),
      firstTry: true,
    });
    expect(result).toMatchObject({ contacts: 120, imported: 119, leftToOutboundSync: 1, pushes: 3 });
    expect(claims).toHaveBeenCalledTimes(1);
    expect(lookups).not.toHaveBeenCalled();
    expect(crm.pushes.flatMap((push) => push.records.map((record) => record.contactNumber))).not.toContain(
      number(7),
    );
  });

  it('leaves a contact an outbound run holds to that run, and parks one S-360 no longer knows', async () => {
    const { store, s360, crm, activities } = setup(3);
    s360.remove(number(3));
    await store.addImportContacts({ listId, contactNumbers: [number(1), number(2), number(3)] });
    await store.enqueue({ direction: 'outbound', targets: [target], contactNumbers: [number(2)] });
    await store.claim({ direction: 'outbound', target, claimId: 'outbound-sync:default/run-9', limit: 1 });

    const result = await environment().env.run(activities.importContactPage, page(3));
    expect(result).toMatchObject({ contacts: 3, imported: 1, leftToOutboundSync: 1, parked: 1 });
    expect(crm.pushes.flatMap((push) => push.records.map((record) => record.contactNumber))).toEqual([
      number(1),
    ]);
    expect(store.parked.map((parked) => [parked.contactNumber, parked.code])).toEqual([
      [number(3), 'NOT_FOUND'],
    ]);
  });

  it('after a crash, skips the pushes confirmed and resends a staged one with its webhook-id', async () => {
    const { store, crm, activities } = setup(150);
    await store.addImportContacts({
      listId,
      contactNumbers: Array.from({ length: 150 }, (_, i) => number(i + 1)),
    });
    // A first attempt confirmed push 0, then sent push 1 and died before recording it.
    const first = environment();
    const abort = new Error('worker killed');
    let pushes = 0;
    const pushContacts = crm.pushContacts.bind(crm);
    crm.pushContacts = async (push) => {
      const answer = await pushContacts(push);
      pushes += 1;
      if (pushes === 2) throw abort;
      return answer;
    };
    await expect(first.env.run(activities.importContactPage, page(150))).rejects.toBeTruthy();
    crm.pushContacts = pushContacts;
    const lastHeartbeat = first.heartbeats[first.heartbeats.length - 1] as PageProgress;
    expect(lastHeartbeat.chunksDone).toBe(1);

    const retry = await environment(lastHeartbeat).env.run(activities.importContactPage, page(150));
    expect(retry).toMatchObject({
      contacts: 150,
      imported: 150,
      resumedPushes: 1,
      duplicatePushes: 1,
      pushes: 3,
    });
    expect(crm.pushes.map((push) => push.pushId)).toEqual([
      `${claimId}/0`,
      `${claimId}/1`,
      `${claimId}/1`,
      `${claimId}/2`,
    ]);
    // The resent push is the same payload.
    expect(crm.pushes[2]?.records).toEqual(crm.pushes[1]?.records);
  });
});

describe('releaseImport', () => {
  it('releases what the import holds and forgets its lists', async () => {
    const { store, activities } = setup(2);
    await store.addImportContacts({ listId, contactNumbers: [number(1), number(2)] });
    await store.claimForImport({ target, claimId, contactNumbers: [number(1), number(2)] });
    const result = await environment().env.run(activities.releaseImport, {
      target,
      claimIdPrefix: 'import:default/run-1/',
      listIds: [listId],
    });
    expect(result).toEqual({ released: 2 });
    expect(await store.getImportContacts({ listId, fromSeq: 0, limit: 10 })).toEqual([]);
  });
});
