import type { CrmContactRecord } from '../../mapping/crm-contact-record';
import type { CrmChangeEvent } from './crm-change-event';

/** One payload sent to a CRM: at most 50 records, with an idempotency key that stays the same across retries. */
export interface CrmPush {
  /** Idempotency key (sent as `webhook-id`): the same for every retry of this payload. */
  pushId: string;
  records: CrmContactRecord[];
}

/** What the CRM said about one record of a push it accepted as a whole. */
export interface CrmPushRecordResult {
  contactNumber: string;
  ok: boolean;
  /** Why the CRM refused this record (permanent). */
  reason?: string;
}

export interface CrmPushResult {
  /** True when the CRM had already applied this `pushId` (a re-push after a crash). */
  duplicate: boolean;
  /** Per-record outcome when the CRM reports it; absent means every record was accepted. */
  records?: CrmPushRecordResult[];
}

/**
 * The interface every CRM target implements (generic signed webhook first, Salesforce later). Methods throw the
 * errors of `adapters/http/errors.ts`: throttling, transient and permanent failures are told apart there.
 */
export interface CrmAdapter {
  /** The target name, as in the configuration and the workflow ID `outbound-sync:<target>`. */
  readonly target: string;
  /** `options.signal` (optional to implement) aborts the push, e.g. when the activity is cancelled. */
  pushContacts(push: CrmPush, options?: { signal?: AbortSignal }): Promise<CrmPushResult>;
  /**
   * Polling mode, for a CRM that cannot call out: the changes its users made after the cursor `after` (from the
   * start when absent), oldest first, at most `limit`. `next` is the cursor to pass next time (the same one when
   * nothing changed). Absent when the target only sends its changes by webhook.
   */
  listChanges?(input: CrmListChangesInput, options?: { signal?: AbortSignal }): Promise<CrmChangesPage>;
  /** How many changes to ask {@link CrmAdapter.listChanges} for per call, when the target configures it. */
  readonly changesPageSize?: number;
  /**
   * The records a query selects (its language is the CRM's: a SOQL condition for Salesforce, the filter of the
   * webhook CRM's record search), `limit` at a time from the cursor `after` (from the start when absent); `next` is
   * null on the last page. Absent when the target configures no record search.
   */
  queryRecords?(input: CrmQueryInput, options?: { signal?: AbortSignal }): Promise<CrmQueryPage>;
  /** How many records to ask {@link CrmAdapter.queryRecords} for per call, when the target configures it. */
  readonly queryPageSize?: number;
}

export interface CrmQueryInput {
  query: string;
  /** The cursor returned as `next` by the previous call; absent: from the start. */
  after?: string;
  limit: number;
}

/** A record a CRM query selected: its link to S-360 (contact number, or its CRM ID only) and its fields. */
export interface CrmQueryRecord {
  contactNumber?: string;
  crmId?: string;
  entity: 'person' | 'account' | 'relay';
  fields: Record<string, string | number | boolean | null>;
}

/** One page of a CRM query's records. */
export interface CrmQueryPage {
  records: CrmQueryRecord[];
  /** The cursor of the next page; null after the last one. */
  next: string | null;
}

export interface CrmListChangesInput {
  /** The cursor returned as `next` by the previous call; absent: from the start. */
  after?: string;
  limit: number;
}

/** One page of a CRM's change list. */
export interface CrmChangesPage {
  changes: CrmChangeEvent[];
  /** The cursor after the last change of this page. */
  next: string;
}
