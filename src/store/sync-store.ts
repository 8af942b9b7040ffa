/**
 * The sync store: the durable state of crm-sync outside Temporal. An outbox of pending changes per direction and
 * target, the payloads prepared for delivery, and the parked records that could not be synced.
 *
 * Implementations: `PgSyncStore` over PGlite (embedded default, a folder under the data directory) or
 * PostgreSQL. The SQL is the same for both.
 */

import type { S360ContactUpdate } from '../adapters/s360/s360-client';

/** S-360 -> CRM is `outbound`; CRM -> S-360 is `inbound`. */
export type SyncDirection = 'outbound' | 'inbound';

export interface OutboxKey {
  direction: SyncDirection;
  target: string;
}

/** A pending contact that a sync run has claimed. */
export interface ClaimedEntry {
  contactNumber: string;
  /** The change counter seen at claim time: a later change re-queues the contact after its ack. */
  version: number;
  firstEnqueuedAt: string;
}

export interface ClaimInput extends OutboxKey {
  /** Deterministic per sync run (for example `<workflowId>/<runId>`): a retried claim returns the same rows. */
  claimId: string;
  limit: number;
}

/** A record that could not be synced, kept with its reason until retried or discarded. */
export interface ParkedRecord {
  direction: SyncDirection;
  target: string;
  contactNumber: string;
  /** Stable machine code: NOT_FOUND, INVALID_RECORD, REJECTED_BY_CRM, ... */
  code: string;
  /** What went wrong, for a person. */
  reason: string;
  /** The field at fault, when one is. */
  field?: string;
  /** How many times this record has been parked. */
  attempts: number;
  firstParkedAt: string;
  lastParkedAt: string;
}

export interface ParkInput extends OutboxKey {
  contactNumber: string;
  code: string;
  reason: string;
  field?: string;
  /** The claim the record was taken under: it leaves the outbox with it. */
  claimId?: string;
}

/** A relay that waits until its structure's account is in the CRM. */
export interface HeldRelay {
  contactNumber: string;
  accountContactNumber: string;
}

/** A payload prepared for one CRM push; `body` is stored so every retry sends the same bytes. */
export interface StagedPush {
  pushId: string;
  target: string;
  contactNumbers: string[];
  body: string;
  /** Relays of the batch left out of the payload because their account is not in the CRM yet. */
  heldRelays?: HeldRelay[];
  deliveredAt?: string;
}

/** What crm-sync knows of a contact a CRM target holds. */
export interface CrmLink {
  entity: string;
  /** The CRM's own ID, for a record created in the CRM. */
  crmId?: string;
}

/** What crm-sync knows of a record in a CRM target: its link (absent: not held) and its last synced state. */
export interface SyncedRecord {
  link?: CrmLink;
  fields?: Record<string, SyncedFieldValue>;
}

/** A CRM field value, as mapped records hold them. */
export type SyncedFieldValue = string | number | boolean | null;

/** The outbox key of a record created in the CRM that has no S-360 contact number yet: `crm:<crmId>`. */
export function crmRecordKey(crmId: string): string {
  return `crm:${crmId}`;
}

/** The CRM ID of an outbox key made by {@link crmRecordKey}; undefined for a contact number. */
export function crmIdOfKey(key: string): string | undefined {
  return key.startsWith('crm:') ? key.slice('crm:'.length) : undefined;
}

/**
 * Claims of the initial import start with this (`import:<import ID>/...`). An outbox row an import inserted only to
 * hold it has version 0: no change of its own is queued for it.
 */
export const importClaimPrefix = 'import:';

/** The latest change a CRM reported for one record, waiting for the inbound sync. */
export interface InboundChange {
  target: string;
  /** The contact number, or `crm:<crmId>` for a record new in the CRM ({@link crmRecordKey}). */
  contactNumber: string;
  /** The CRM's own ID of the record, when the CRM gave it. */
  crmId?: string;
  kind: 'changed' | 'deleted';
  /** person, account or relay, when the CRM said. */
  entity?: 'person' | 'account' | 'relay';
  /** The record's fields as the CRM holds them now (empty for a deletion). */
  fields: Record<string, SyncedFieldValue>;
  /** When the CRM user made the change (ISO). */
  changedAt: string;
  /** When crm-sync stored it (ISO). */
  receivedAt: string;
}

/** A field both sides changed since the last sync, and how it was decided. */
export interface SyncConflict {
  target: string;
  contactNumber: string;
  /** The CRM field. */
  field: string;
  /** The value both sides last agreed on. */
  baseValue: SyncedFieldValue;
  s360Value: SyncedFieldValue;
  crmValue: SyncedFieldValue;
  /** The field's owner in the mapping: `s360`, `crm` or `latest` (the most recent change wins). */
  policy: 's360' | 'crm' | 'latest';
  winner: 's360' | 'crm';
  decidedAt: string;
}

/** A row of a mass update that could not be applied, kept with its line and reason until retried. */
export interface MassUpdateParkedRow {
  updateId: string;
  /** The row's line in the update file (the header is line 1). */
  line: number;
  /** When the row names a valid one. */
  contactNumber?: string;
  /** NOT_FOUND (unknown contact), INVALID_ROW (the row cannot be read), or the code S-360 refused it with. */
  code: string;
  /** What went wrong, for a person. */
  reason: string;
  /** The update the row asks for; absent when the row could not be read (the file must be fixed). */
  update?: S360ContactUpdate;
  /** How many times the row has been parked. */
  attempts: number;
  firstParkedAt: string;
  lastParkedAt: string;
}

export type MassUpdateParkInput = Omit<MassUpdateParkedRow, 'attempts' | 'firstParkedAt' | 'lastParkedAt'>;

/**
 * A row of a mass update whose rows come from a CRM query: its position in the query's results (from 1), the
 * contact, and either the update it asks for or why it cannot be applied.
 */
export type MassUpdateSourceRow = { line: number; contactNumber?: string } & (
  { update: S360ContactUpdate } | { problem: string }
);

export interface OutboxCounts {
  pending: number;
  claimed: number;
  parked: number;
}

export interface SyncStore {
  /** Creates or upgrades the schema. Idempotent. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  /**
   * Queues contacts for every given target. A contact already pending is not duplicated: its change counter is
   * raised so that a run holding an older claim re-queues it after the ack. Durable when the promise resolves.
   */
  enqueue(input: { direction: SyncDirection; targets: string[]; contactNumbers: string[] }): Promise<void>;

  /**
   * Claims up to `limit` pending contacts, oldest first (`limit` 0: only the rows this claim already holds). Rows
   * already held by this `claimId` are returned again,
   * exactly those (idempotent retry); rows held by another claim of the same key are taken over (one workflow per target runs
   * at a time, so such a claim belongs to a run that ended).
   */
  claim(input: ClaimInput): Promise<ClaimedEntry[]>;

  /**
   * Removes delivered contacts from the outbox. A contact changed again since the claim stays queued, unclaimed.
   * Only rows still held by `claimId` are touched. A delivered contact is no longer failing: its parked record of
   * the same key, if any, is cleared.
   */
  acknowledge(input: OutboxKey & { claimId: string; contactNumbers: string[] }): Promise<void>;

  /**
   * Parks a record with its reason (parking it again raises `attempts` and keeps `firstParkedAt`) and removes it
   * from the outbox: under its claim when `claimId` is given, and then only if it did not change since the claim
   * (a newer change stays queued for a fresh try). A parked contact that a new change enqueues again stays
   * parked, still listed, and is queued as well.
   */
  park(input: ParkInput): Promise<void>;
  /** Newest first (last parked). Without a filter, every key and contact; without a limit, every record. */
  listParked(
    filter?: Partial<OutboxKey> & { contactNumbers?: string[]; limit?: number },
  ): Promise<ParkedRecord[]>;
  /** Moves parked records back to the outbox (all of the key when `contactNumbers` is absent). Returns how many. */
  retryParked(input: OutboxKey & { contactNumbers?: string[] }): Promise<number>;

  /** Stores a payload once; a second call with the same `pushId` keeps the first body. */
  /**
   * Records what a CRM accepted from an outbound push, in one step: each record's fields become its last synced
   * state, the record is linked as held by the target, and it is acknowledged under the claim (it leaves the outbox,
   * or stays queued if it changed since the claim; its parked record, if any, goes).
   */
  recordDelivered(input: {
    target: string;
    claimId: string;
    records: Array<{ contactNumber: string; entity: string; fields: Record<string, SyncedFieldValue> }>;
    /** Also marks this staged push delivered, in the same step (as {@link SyncStore.markPushDelivered}). */
    pushId?: string;
  }): Promise<void>;
  /** Stages a push; false when one is staged under that ID already (it is kept: retries send the same bytes). */
  stagePush(push: Omit<StagedPush, 'deliveredAt'>): Promise<boolean>;
  getStagedPush(pushId: string): Promise<StagedPush | undefined>;
  /** Idempotent: the first delivery time is kept. */
  markPushDelivered(pushId: string): Promise<void>;

  /**
   * Gives contacts held by `claimId` back to the outbox, pending and in their place, for a later run (a relay
   * waiting for its account).
   */
  release(input: OutboxKey & { claimId: string; contactNumbers: string[] }): Promise<void>;

  /** Records that the CRM target holds these contacts (it acknowledged a push of them). */
  recordSynced(input: {
    target: string;
    records: Array<{ contactNumber: string; entity: string }>;
  }): Promise<void>;
  /**
   * The link of each of these contacts the CRM target is known to hold (absent ones are left out): its entity
   * (person, account, relay) and, for a record created in the CRM, its CRM ID.
   */
  getCrmLinks(input: { target: string; contactNumbers: string[] }): Promise<Map<string, CrmLink>>;
  /**
   * {@link SyncStore.getCrmLinks} and {@link SyncStore.getSyncedStates} in one lookup, as a push needs both: for each
   * of these contacts that the target holds or that crm-sync synced, its link and its last synced state.
   */
  getSyncedRecords(input: { target: string; contactNumbers: string[] }): Promise<Map<string, SyncedRecord>>;
  /**
   * Links a record created in the CRM (its `crmId`) to the S-360 contact created for it: the CRM target holds the
   * contact from now on. A crmId is linked to one contact number per target.
   */
  linkCrmRecord(input: {
    target: string;
    contactNumber: string;
    entity: string;
    crmId: string;
  }): Promise<void>;
  /** The contact number a CRM record is linked to, if it is. */
  contactNumberOfCrmId(input: { target: string; crmId: string }): Promise<string | undefined>;

  /**
   * Stores a CRM change and queues its contact for the inbound sync, in one transaction, durable when the promise
   * resolves. Only the latest change of a record is kept: an older `changedAt` than the one stored is ignored
   * (the contact is still queued).
   */
  recordInboundChange(change: Omit<InboundChange, 'receivedAt'>): Promise<void>;
  /** The stored changes of these contacts (absent ones are left out). */
  getInboundChanges(input: { target: string; contactNumbers: string[] }): Promise<InboundChange[]>;

  /**
   * The last state crm-sync synced for each record, in CRM field names: what it pushed to the CRM or applied from
   * it. A change equal to it is an echo of crm-sync's own write. Absent contacts are left out of the map.
   */
  getSyncedStates(input: {
    target: string;
    contactNumbers: string[];
  }): Promise<Map<string, Record<string, SyncedFieldValue>>>;
  /** Replaces the synced state of these records. */
  saveSyncedStates(input: {
    target: string;
    states: Array<{ contactNumber: string; fields: Record<string, SyncedFieldValue> }>;
  }): Promise<void>;

  /** Records conflicts (each with both values and the decision). */
  recordConflicts(conflicts: Array<Omit<SyncConflict, 'decidedAt'>>): Promise<void>;
  /** Newest first; without a target, every target. */
  listConflicts(filter?: { target?: string; limit?: number }): Promise<SyncConflict[]>;

  /** Where polling the CRM target's change list stopped; undefined before the first poll. */
  getPollCursor(target: string): Promise<string | undefined>;
  savePollCursor(target: string, cursor: string): Promise<void>;

  /**
   * Adds contacts to an import's list (ignoring those already in it), numbered after the last one; returns how
   * many the list holds now.
   */
  addImportContacts(input: { listId: string; contactNumbers: string[] }): Promise<number>;
  /** The contacts of the list from position `fromSeq` (0-based), in list order. */
  getImportContacts(input: { listId: string; fromSeq: number; limit: number }): Promise<string[]>;
  /** Forgets a list (the import is over). */
  forgetImportContacts(listId: string): Promise<void>;
  /**
   * Takes contacts for an import under `claimId` in the outbound outbox of the target, so that the outbound sync
   * leaves them alone until the import acknowledges or releases them: contacts not queued get a row of version 0
   * (no change of their own), queued ones are taken over (the import pushes their current state). Contacts held by
   * an outbound run are `busy`: that run pushes them.
   */
  claimForImport(input: {
    target: string;
    claimId: string;
    contactNumbers: string[];
  }): Promise<{ claimed: string[]; busy: string[] }>;
  /**
   * Ends every import claim starting with `claimIdPrefix` (a cancelled import): rows it only held leave the outbox,
   * rows with a change of their own stay queued. Returns how many rows it held.
   */
  releaseImportClaims(input: { target: string; claimIdPrefix: string }): Promise<number>;

  /**
   * Parks rows of a mass update (a row parked again, by update and line, raises `attempts`, keeps
   * `firstParkedAt` and takes the new reason).
   */
  parkMassUpdateRows(rows: MassUpdateParkInput[]): Promise<void>;
  /**
   * The parked rows of a mass update by line, from `fromLine` on; `retryableOnly`: only rows with an update (a row
   * that could not be read cannot be retried). Without a limit, every row.
   */
  listMassUpdateParked(input: {
    updateId: string;
    fromLine?: number;
    limit?: number;
    retryableOnly?: boolean;
  }): Promise<MassUpdateParkedRow[]>;
  /** How many rows of a mass update are parked, and how many of them can be retried. */
  countMassUpdateParked(updateId: string): Promise<{ parked: number; retryable: number }>;
  /** Removes parked rows (applied by a retry). Returns how many were parked. */
  unparkMassUpdateRows(input: { updateId: string; lines: number[] }): Promise<number>;
  /** Keeps the rows of a mass update taken from a CRM query; a row already kept (by line) stays as it was. */
  addMassUpdateRows(updateId: string, rows: MassUpdateSourceRow[]): Promise<void>;
  /** The kept rows of a mass update by line, from `fromLine` on, at most `limit`. */
  listMassUpdateRows(input: {
    updateId: string;
    fromLine: number;
    limit: number;
  }): Promise<MassUpdateSourceRow[]>;
  /** How many rows are kept for a mass update. */
  countMassUpdateRows(updateId: string): Promise<number>;

  /** `pending`: queued and unclaimed; `claimed`: held by a run; `parked`: records parked for the key. */
  counts(key: OutboxKey): Promise<OutboxCounts>;
}
