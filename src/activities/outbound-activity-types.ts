/**
 * The contract between the `outboundSync` workflow and its activities. Inputs and results carry contact numbers
 * and counts only: contact data stays out of workflow history (it is staged in the sync store).
 */

export interface ClaimOutboundContactsInput {
  target: string;
  /** `<workflowId>/<runId>`: a retried claim returns the same contacts. */
  claimId: string;
  /** At most 500. */
  limit: number;
}
export interface ClaimOutboundContactsResult {
  contactNumbers: string[];
}

export interface PrepareOutboundPushInput {
  target: string;
  claimId: string;
  /** Idempotency key of the push (`<claimId>/<batchIndex>`), sent as `webhook-id`. */
  pushId: string;
  /** At most 50. */
  contactNumbers: string[];
}
export interface PrepareOutboundPushResult {
  /** Contacts fetched, mapped and staged under `pushId`. Zero means there is nothing to deliver. */
  prepared: number;
  /** Contacts parked with their reason (not found in S-360, invalid data). */
  parked: number;
  /** The contacts staged under `pushId`: the ones to park if the delivery finally fails. */
  stagedContactNumbers: string[];
  /** Relays left out because their structure's account is not in the CRM yet (still claimed, not staged). */
  heldRelays: HeldRelay[];
  /** Contacts equal to the last state synced (crm-sync's own inbound write coming back): acknowledged, not pushed. */
  echoes: number;
}

/** A relay and the structure whose account must be in the CRM before it. */
export interface HeldRelay {
  contactNumber: string;
  accountContactNumber: string;
}

export interface DeliverOutboundPushInput {
  target: string;
  claimId: string;
  pushId: string;
}
export interface DeliverOutboundPushResult {
  /** Records the CRM accepted; they are acknowledged in the outbox. */
  delivered: number;
  /** Records the CRM refused; they are parked with the CRM's reason. */
  rejected: number;
  /** The CRM had already applied this push (a re-push after a crash or a lost answer). */
  duplicate: boolean;
}

export interface ParkOutboundContactsInput {
  target: string;
  claimId: string;
  contactNumbers: string[];
  code: string;
  reason: string;
}
export interface ParkOutboundContactsResult {
  parked: number;
}

export interface ReleaseHeldRelaysInput {
  target: string;
  claimId: string;
  relays: HeldRelay[];
}
export interface ReleaseHeldRelaysResult {
  /** Relays given back to the outbox for a later run; their accounts are queued. */
  released: number;
  /** Relays parked because their structure is parked. */
  parked: number;
}

/** The outbound activities as the workflow sees them. */
export interface OutboundActivities {
  claimOutboundContacts(input: ClaimOutboundContactsInput): Promise<ClaimOutboundContactsResult>;
  prepareOutboundPush(input: PrepareOutboundPushInput): Promise<PrepareOutboundPushResult>;
  deliverOutboundPush(input: DeliverOutboundPushInput): Promise<DeliverOutboundPushResult>;
  /**
   * Relays still waiting for their account at the end of a run: queues the structures and gives the relays back to
   * the outbox for a later run; a relay whose structure is parked is parked too, with the structure's reason.
   */
  releaseHeldRelays(input: ReleaseHeldRelaysInput): Promise<ReleaseHeldRelaysResult>;
  /** Parks contacts that a run gave up on (activity retries exhausted), so that none is dropped. */
  parkOutboundContacts(input: ParkOutboundContactsInput): Promise<ParkOutboundContactsResult>;
}
