/**
 * The contract between the `initialImport` workflow and its activities. Type-only: the workflow imports it with
 * `import type`, so no activity code enters the workflow bundle.
 */

/** Which S-360 contacts an import lists (searchContact criteria). */
export interface ImportCriteria {
  contactType?: 'INDIVIDUAL' | 'STRUCTURE';
  /** ISO timestamp: only contacts changed since then. */
  modifiedSince?: string;
}

export interface ListImportContactsInput {
  /** The list to fill (one per import phase). */
  listId: string;
  criteria: ImportCriteria;
  /** Contact numbers asked for per searchContact call. */
  searchPageSize: number;
}

export interface ListImportContactsResult {
  /** Contacts in the list. */
  listed: number;
  /** Times the search was run from the start again because S-360's total changed while listing. */
  relisted: number;
}

export interface ImportContactPageInput {
  target: string;
  listId: string;
  /** Deterministic per page, starting with `import:`: the page's contacts are held in the outbox under it. */
  claimId: string;
  /** The page: positions `fromSeq` to `fromSeq + count - 1` of the list. */
  fromSeq: number;
  count: number;
  /** Contacts per CRM push (at most 50). */
  payloadSize: number;
  /**
   * The workflow's first try of this page (not a page tried again after a failure): with the activity's first
   * attempt, nothing of the page can be staged or held yet.
   */
  firstTry?: boolean;
}

/** What happened to the contacts of a page; every contact of the page is in exactly one of the first six. */
export interface ImportPageCounts {
  /** Accepted by the CRM. */
  imported: number;
  /** Refused by the CRM (parked with the CRM's reason). */
  rejected: number;
  /** Parked before reaching the CRM (unknown in S-360, invalid data). */
  parked: number;
  /** Already in the CRM as they are now (equal to the last state synced): not pushed again. */
  unchanged: number;
  /** Held by an outbound sync run when the import reached them: that run pushes them. */
  leftToOutboundSync: number;
  /** Relays whose structure's account is not in the CRM: given back to the outbox, or parked with their structure. */
  heldRelays: number;
  /** Pushes sent again because an earlier attempt of the page stopped (a worker crash) before it was confirmed. */
  resumedPushes: number;
  /** Pushes the CRM had already applied (it recognised the `webhook-id`). */
  duplicatePushes: number;
  /** Pushes sent. */
  pushes: number;
}

export interface ImportContactPageResult extends ImportPageCounts {
  /** Contacts the page held (`count`, or fewer at the end of the list). */
  contacts: number;
}

export interface ReleaseImportInput {
  target: string;
  /** Every claim of the import starts with it. */
  claimIdPrefix: string;
  /** The import's lists, forgotten. */
  listIds: string[];
}

export interface ReleaseImportResult {
  /** Outbox rows the import still held. */
  released: number;
}

export interface ImportActivities {
  /** Lists the contacts to import, page by page of searchContact; resumes from its last heartbeat. */
  listImportContacts(input: ListImportContactsInput): Promise<ListImportContactsResult>;
  /**
   * Imports one page: holds its contacts in the outbox, fetches and maps them, pushes them in payloads of at most
   * `payloadSize` (each staged first, so that a retry sends the same bytes under the same `webhook-id`), then
   * acknowledges them. Heartbeats after every contact; a retry skips the pushes already confirmed.
   */
  importContactPage(input: ImportContactPageInput): Promise<ImportContactPageResult>;
  /** Ends the import: releases what it still holds in the outbox and forgets its lists. */
  releaseImport(input: ReleaseImportInput): Promise<ReleaseImportResult>;
}
