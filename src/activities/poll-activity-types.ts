/**
 * The contract between the `inboundSync` workflow and the polling activity: for a CRM that cannot call out, each
 * inbound run first reads the CRM's change list into the sync store.
 */

export interface PollCrmChangesInput {
  target: string;
}
export interface PollCrmChangesResult {
  /** Changes read from the CRM and recorded (0 when the target is not polled). */
  received: number;
  /** Pages read, the last one usually empty (0 when the target is not polled). */
  pages: number;
}

/** The polling activity as the workflow sees it. */
export interface PollActivities {
  pollCrmChanges(input: PollCrmChangesInput): Promise<PollCrmChangesResult>;
}
