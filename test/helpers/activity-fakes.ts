/**
 * Fakes shared by the activity tests: an in-memory sync store, an S-360 stand-in and a MockActivityEnvironment
 * that records heartbeats.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { NotFoundError } from '../../src/adapters/http/errors';
import type {
  S360ContactUpdate,
  S360NewContact,
  S360Page,
  S360SearchCriteria,
  S360SearchResult,
} from '../../src/adapters/s360/s360-client';
import { s360ContactSchema, type S360Contact } from '../../src/adapters/s360/s360-contact';
import type {
  ClaimInput,
  ClaimedEntry,
  CrmLink,
  InboundChange,
  MassUpdateParkedRow,
  MassUpdateParkInput,
  MassUpdateSourceRow,
  OutboxCounts,
  OutboxKey,
  ParkInput,
  ParkedRecord,
  StagedPush,
  SyncConflict,
  SyncDirection,
  SyncedFieldValue,
  SyncedRecord,
  SyncStore,
} from '../../src/store/sync-store';

/** Just enough of a sync store to observe what the activities do with it. */
export class MemorySyncStore implements SyncStore {
  readonly pending = new Map<string, { claimId?: string }>();
  readonly parked: ParkInput[] = [];
  readonly acknowledged: string[] = [];
  readonly pushes = new Map<string, StagedPush>();

  async migrate(): Promise<void> {}
  async close(): Promise<void> {}
  async enqueue(input: {
    direction: SyncDirection;
    targets: string[];
    contactNumbers: string[];
  }): Promise<void> {
    for (const contactNumber of input.contactNumbers) {
      this.pending.set(contactNumber, {});
      this.enqueued.push(contactNumber);
    }
  }
  /** As the contract says: the rows this claim holds, exactly those, whatever the limit; else new ones. */
  async claim(input: ClaimInput): Promise<ClaimedEntry[]> {
    const entries = [...this.pending.entries()];
    const held = entries.filter(([, entry]) => entry.claimId === input.claimId);
    const claimed =
      held.length > 0 || input.limit <= 0
        ? held
        : entries.filter(([, entry]) => entry.claimId === undefined).slice(0, input.limit);
    return claimed.map(([contactNumber, entry]) => {
      entry.claimId = input.claimId;
      return { contactNumber, version: 1, firstEnqueuedAt: '2024-01-01T00:00:00.000Z' };
    });
  }
  async acknowledge(input: OutboxKey & { claimId: string; contactNumbers: string[] }): Promise<void> {
    for (const contactNumber of input.contactNumbers) {
      this.pending.delete(contactNumber);
      this.acknowledged.push(contactNumber);
    }
  }
  async park(input: ParkInput): Promise<void> {
    this.pending.delete(input.contactNumber);
    this.parked.push(input);
  }
  async listParked(filter: { contactNumbers?: string[] } = {}): Promise<ParkedRecord[]> {
    return this.parked
      .filter((record) => !filter.contactNumbers || filter.contactNumbers.includes(record.contactNumber))
      .map((record) => ({
        ...record,
        attempts: 1,
        firstParkedAt: '2024-01-01T00:00:00.000Z',
        lastParkedAt: '2024-01-01T00:00:00.000Z',
      }));
  }
  async retryParked(): Promise<number> {
    return 0;
  }
  async recordDelivered(input: {
    target: string;
    claimId: string;
    records: Array<{ contactNumber: string; entity: string; fields: Record<string, SyncedFieldValue> }>;
    pushId?: string;
  }): Promise<void> {
    if (input.pushId !== undefined) await this.markPushDelivered(input.pushId);
    await this.saveSyncedStates({
      target: input.target,
      states: input.records.map((record) => ({ contactNumber: record.contactNumber, fields: record.fields })),
    });
    await this.recordSynced({ target: input.target, records: input.records });
    if (input.records.length > 0) {
      await this.acknowledge({
        direction: 'outbound',
        target: input.target,
        claimId: input.claimId,
        contactNumbers: input.records.map((record) => record.contactNumber),
      });
    }
  }
  async stagePush(push: Omit<StagedPush, 'deliveredAt'>): Promise<boolean> {
    if (this.pushes.has(push.pushId)) return false;
    this.pushes.set(push.pushId, { ...push });
    return true;
  }
  async getStagedPush(pushId: string): Promise<StagedPush | undefined> {
    const push = this.pushes.get(pushId);
    return push && { ...push };
  }
  async markPushDelivered(pushId: string): Promise<void> {
    const push = this.pushes.get(pushId);
    if (push) push.deliveredAt = new Date().toISOString();
  }
  readonly synced = new Map<string, string>();
  readonly released: string[] = [];
  readonly enqueued: string[] = [];
  async release(input: OutboxKey & { claimId: string; contactNumbers: string[] }): Promise<void> {
    for (const contactNumber of input.contactNumbers) {
      const entry = this.pending.get(contactNumber);
      if (entry?.claimId === input.claimId) delete entry.claimId;
      this.released.push(contactNumber);
    }
  }
  async recordSynced(input: {
    target: string;
    records: Array<{ contactNumber: string; entity: string }>;
  }): Promise<void> {
    for (const record of input.records) this.synced.set(record.contactNumber, record.entity);
  }
  async getCrmLinks(input: { target: string; contactNumbers: string[] }): Promise<Map<string, CrmLink>> {
    const crmIds = new Map([...this.crmLinks].map(([crmId, contactNumber]) => [contactNumber, crmId]));
    return new Map(
      input.contactNumbers.flatMap((contactNumber) => {
        const entity = this.synced.get(contactNumber);
        const crmId = crmIds.get(contactNumber);
        if (!entity) return [];
        return [[contactNumber, crmId === undefined ? { entity } : { entity, crmId }] as const];
      }),
    );
  }
  async getSyncedRecords(input: {
    target: string;
    contactNumbers: string[];
  }): Promise<Map<string, SyncedRecord>> {
    const [links, states] = await Promise.all([this.getCrmLinks(input), this.getSyncedStates(input)]);
    return new Map(
      [...new Set([...links.keys(), ...states.keys()])].map((contactNumber) => {
        const link = links.get(contactNumber);
        const fields = states.get(contactNumber);
        return [contactNumber, { ...(link ? { link } : {}), ...(fields ? { fields } : {}) }];
      }),
    );
  }
  /** crmId -> contact number. */
  readonly crmLinks = new Map<string, string>();
  async linkCrmRecord(input: {
    target: string;
    contactNumber: string;
    entity: string;
    crmId: string;
  }): Promise<void> {
    this.synced.set(input.contactNumber, input.entity);
    this.crmLinks.set(input.crmId, input.contactNumber);
  }
  async contactNumberOfCrmId(input: { target: string; crmId: string }): Promise<string | undefined> {
    return this.crmLinks.get(input.crmId);
  }
  readonly inboundChanges = new Map<string, InboundChange>();
  readonly syncedStates = new Map<string, Record<string, SyncedFieldValue>>();
  async recordInboundChange(change: Omit<InboundChange, 'receivedAt'>): Promise<void> {
    this.inboundChanges.set(change.contactNumber, { ...change, receivedAt: change.changedAt });
    this.pending.set(change.contactNumber, {});
  }
  async getInboundChanges(input: { contactNumbers: string[] }): Promise<InboundChange[]> {
    return input.contactNumbers.flatMap((contactNumber) => {
      const change = this.inboundChanges.get(contactNumber);
      return change ? [change] : [];
    });
  }
  async getSyncedStates(input: {
    contactNumbers: string[];
  }): Promise<Map<string, Record<string, SyncedFieldValue>>> {
    return new Map(
      input.contactNumbers.flatMap((contactNumber) => {
        const state = this.syncedStates.get(contactNumber);
        return state ? [[contactNumber, state] as const] : [];
      }),
    );
  }
  async saveSyncedStates(input: {
    target: string;
    states: Array<{ contactNumber: string; fields: Record<string, SyncedFieldValue> }>;
  }): Promise<void> {
    for (const state of input.states) this.syncedStates.set(state.contactNumber, { ...state.fields });
  }
  readonly conflicts: SyncConflict[] = [];
  async recordConflicts(conflicts: Array<Omit<SyncConflict, 'decidedAt'>>): Promise<void> {
    for (const conflict of conflicts)
      this.conflicts.push({ ...conflict, decidedAt: '2024-01-01T00:00:00.000Z' });
  }
  async listConflicts(): Promise<SyncConflict[]> {
    return [...this.conflicts].reverse();
  }
  readonly cursors = new Map<string, string>();
  async getPollCursor(target: string): Promise<string | undefined> {
    return this.cursors.get(target);
  }
  async savePollCursor(target: string, cursor: string): Promise<void> {
    this.cursors.set(target, cursor);
  }
  readonly importLists = new Map<string, string[]>();
  async addImportContacts(input: { listId: string; contactNumbers: string[] }): Promise<number> {
    const list = this.importLists.get(input.listId) ?? [];
    for (const contactNumber of input.contactNumbers) {
      if (!list.includes(contactNumber)) list.push(contactNumber);
    }
    this.importLists.set(input.listId, list);
    return list.length;
  }
  async getImportContacts(input: { listId: string; fromSeq: number; limit: number }): Promise<string[]> {
    return (this.importLists.get(input.listId) ?? []).slice(input.fromSeq, input.fromSeq + input.limit);
  }
  async forgetImportContacts(listId: string): Promise<void> {
    this.importLists.delete(listId);
  }
  /** Contacts not held by another claim are taken (a new row or a queued one). */
  async claimForImport(input: {
    target: string;
    claimId: string;
    contactNumbers: string[];
  }): Promise<{ claimed: string[]; busy: string[] }> {
    const claimed: string[] = [];
    const busy: string[] = [];
    for (const contactNumber of input.contactNumbers) {
      const entry = this.pending.get(contactNumber) ?? {};
      if (entry.claimId !== undefined && entry.claimId !== input.claimId) {
        busy.push(contactNumber);
      } else {
        this.pending.set(contactNumber, { claimId: input.claimId });
        claimed.push(contactNumber);
      }
    }
    return { claimed, busy };
  }
  async releaseImportClaims(input: { target: string; claimIdPrefix: string }): Promise<number> {
    let held = 0;
    for (const [contactNumber, entry] of this.pending) {
      if (entry.claimId?.startsWith(input.claimIdPrefix)) {
        held += 1;
        this.pending.delete(contactNumber);
      }
    }
    return held;
  }
  /** Parked mass update rows by `<updateId> <line>`. */
  readonly massUpdateParked = new Map<string, MassUpdateParkedRow>();
  async parkMassUpdateRows(rows: MassUpdateParkInput[]): Promise<void> {
    for (const row of rows) {
      const key = `${row.updateId} ${row.line}`;
      const before = this.massUpdateParked.get(key);
      this.massUpdateParked.set(key, {
        ...row,
        attempts: (before?.attempts ?? 0) + 1,
        firstParkedAt: before?.firstParkedAt ?? '2024-01-01T00:00:00.000Z',
        lastParkedAt: '2024-01-01T00:00:00.000Z',
      });
    }
  }
  async listMassUpdateParked(input: {
    updateId: string;
    fromLine?: number;
    limit?: number;
    retryableOnly?: boolean;
  }): Promise<MassUpdateParkedRow[]> {
    return [...this.massUpdateParked.values()]
      .filter(
        (row) =>
          row.updateId === input.updateId &&
          row.line >= (input.fromLine ?? 0) &&
          (!input.retryableOnly || row.update !== undefined),
      )
      .sort((a, b) => a.line - b.line)
      .slice(0, input.limit ?? Number.POSITIVE_INFINITY);
  }
  async countMassUpdateParked(updateId: string): Promise<{ parked: number; retryable: number }> {
    const rows = await this.listMassUpdateParked({ updateId });
    return { parked: rows.length, retryable: rows.filter((row) => row.update !== undefined).length };
  }
  async unparkMassUpdateRows(input: { updateId: string; lines: number[] }): Promise<number> {
    let removed = 0;
    for (const line of new Set(input.lines)) {
      if (this.massUpdateParked.delete(`${input.updateId} ${line}`)) removed += 1;
    }
    return removed;
  }
  /** Kept rows of mass updates from a CRM query, by update ID then line. */
  readonly massUpdateRows = new Map<string, Map<number, MassUpdateSourceRow>>();
  async addMassUpdateRows(updateId: string, rows: MassUpdateSourceRow[]): Promise<void> {
    const kept = this.massUpdateRows.get(updateId) ?? new Map<number, MassUpdateSourceRow>();
    for (const row of rows) if (!kept.has(row.line)) kept.set(row.line, structuredClone(row));
    this.massUpdateRows.set(updateId, kept);
  }
  async listMassUpdateRows(input: {
    updateId: string;
    fromLine: number;
    limit: number;
  }): Promise<MassUpdateSourceRow[]> {
    return [...(this.massUpdateRows.get(input.updateId)?.values() ?? [])]
      .filter((row) => row.line >= input.fromLine)
      .sort((a, b) => a.line - b.line)
      .slice(0, input.limit);
  }
  async countMassUpdateRows(updateId: string): Promise<number> {
    return this.massUpdateRows.get(updateId)?.size ?? 0;
  }
  async counts(): Promise<OutboxCounts> {
    return { pending: this.pending.size, claimed: 0, parked: this.parked.length };
  }
}

export function s360Contact(
  contactNumber: string,
  lastName: string | null = `Name ${contactNumber}`,
): S360Contact {
  return s360ContactSchema.parse({
    contactNumber,
    contactType: 'INDIVIDUAL',
    role: 'PUBLIC',
    general: { firstName: 'Anaïs', lastName },
    comMeans: { email: `c${contactNumber}@example.org` },
    lastModificationDate: '2024-05-01T10:00:00.000Z',
  });
}

/** An S-360 stand-in: known contacts, and per contact number an error to throw instead. */
export class FakeS360 {
  readonly calls: string[] = [];
  constructor(
    private readonly contacts: Map<string, S360Contact>,
    readonly failures = new Map<string, Error>(),
  ) {}
  readonly saves: S360ContactUpdate[] = [];
  async saveIndividualContactData(update: S360ContactUpdate): Promise<{ contactNumber: string }> {
    this.saves.push(update);
    const contact = this.contacts.get(update.contactNumber);
    if (!contact) {
      throw new NotFoundError(`S-360 saveIndividualContactData: NOT_FOUND ${update.contactNumber}`, {
        system: 'S-360',
      });
    }
    this.contacts.set(update.contactNumber, { ...contact, ...update } as S360Contact);
    return { contactNumber: update.contactNumber };
  }
  readonly created: S360NewContact[] = [];
  /** Numbers new contacts from 9000001 on. */
  async createCulturalContact(contact: S360NewContact): Promise<{ contactNumber: string }> {
    this.created.push(contact);
    const contactNumber = String(9_000_000 + this.created.length);
    this.contacts.set(
      contactNumber,
      s360ContactSchema.parse({
        ...contact,
        contactNumber,
        lastModificationDate: '2024-06-01T09:00:00.000Z',
      }),
    );
    return { contactNumber };
  }
  async getContactData(contactNumber: string): Promise<S360Contact> {
    this.calls.push(contactNumber);
    const failure = this.failures.get(contactNumber);
    if (failure) throw failure;
    const contact = this.contacts.get(contactNumber);
    if (!contact)
      throw new NotFoundError(`S-360 getContactData: NOT_FOUND ${contactNumber}`, { system: 'S-360' });
    return contact;
  }
  readonly searches: Array<{ criteria: S360SearchCriteria; page?: S360Page }> = [];
  /** Matches on contact type only, in contact number order, like the sandbox. */
  async searchContact(criteria: S360SearchCriteria, page?: S360Page): Promise<S360SearchResult> {
    this.searches.push({ criteria, ...(page ? { page } : {}) });
    const matches = [...this.contacts.values()]
      .filter((contact) => !criteria.contactType || contact.contactType === criteria.contactType)
      .map((contact) => contact.contactNumber)
      .sort();
    const offset = page?.offset ?? 0;
    return { contactNumbers: matches.slice(offset, offset + (page?.size ?? 100)), total: matches.length };
  }
  /** Removes a contact (deleted in S-360). */
  remove(contactNumber: string): void {
    this.contacts.delete(contactNumber);
  }
}

/**
 * A MockActivityEnvironment, started from `heartbeatDetails` when given (a retried attempt), and the details of
 * every heartbeat the activity sends.
 */
export function environment<Details = unknown>(heartbeatDetails?: Details) {
  const env = new MockActivityEnvironment(heartbeatDetails ? { heartbeatDetails } : {});
  const heartbeats: Details[] = [];
  env.on('heartbeat', (details: Details) => heartbeats.push(details));
  return { env, heartbeats };
}
