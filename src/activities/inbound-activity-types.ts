/**
 * The contract between the `inboundSync` workflow and its activities. Inputs and results carry contact numbers
 * and counts only: the CRM changes themselves stay in the sync store.
 */

export interface ClaimInboundChangesInput {
  target: string;
  /** `<workflowId>/<runId>`: a retried claim returns the same contacts. */
  claimId: string;
  limit: number;
}
export interface ClaimInboundChangesResult {
  contactNumbers: string[];
}

export interface ApplyInboundChangesInput {
  target: string;
  claimId: string;
  /** At most 50. */
  contactNumbers: string[];
}
export interface ApplyInboundChangesResult {
  /** Changes written to S-360. */
  applied: number;
  /** Records new in the CRM created in S-360 (and linked to their CRM record). */
  created: number;
  /** CRM records deleted: their S-360 contact is flagged inactive (never deleted). */
  deleted: number;
  /** Changes equal to what crm-sync itself last synced (its own write coming back): nothing written. */
  echoes: number;
  /** Changes that change nothing in S-360 once mapped. */
  unchanged: number;
  /** Changes parked with their reason (unknown contact, invalid value). */
  parked: number;
}

export interface ParkInboundContactsInput {
  target: string;
  claimId: string;
  contactNumbers: string[];
  code: string;
  reason: string;
}

/** The inbound activities as the workflow sees them. */
export interface InboundActivities {
  claimInboundChanges(input: ClaimInboundChangesInput): Promise<ClaimInboundChangesResult>;
  applyInboundChanges(input: ApplyInboundChangesInput): Promise<ApplyInboundChangesResult>;
  /** Parks contacts whose changes a run gave up on (retries exhausted), so that none is dropped. */
  parkInboundContacts(input: ParkInboundContactsInput): Promise<{ parked: number }>;
}
