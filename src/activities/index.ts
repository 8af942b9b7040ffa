import { createImportActivities, type ImportActivityDeps } from './import-activities';
import { createInboundActivities, type InboundActivityDeps } from './inbound-activities';
import { createMassUpdateActivities, type MassUpdateActivityDeps } from './mass-update-activities';
import { createOutboundActivities, type OutboundActivityDeps } from './outbound-activities';
import { createPollActivities, type PollActivityDeps } from './poll-activities';

export { FailureType, nonRetryableFailureTypes } from '../failure-types';
export type * from './outbound-activity-types';
export type * from './inbound-activity-types';
export type * from './poll-activity-types';
export type * from './import-activity-types';
export type * from './mass-update-activity-types';
export { InboundParkCode, type InboundActivityDeps } from './inbound-activities';
export { OutboundParkCode, type OutboundActivityDeps, type PrepareProgress } from './outbound-activities';
export type { PollActivityDeps } from './poll-activities';
export type { ImportActivityDeps, ListingProgress, PageProgress } from './import-activities';
export { MassUpdateParkCode, type MassUpdateActivityDeps } from './mass-update-activities';
export { toActivityFailure } from './translate-error';

/** Everything the activities need; the worker builds it once (composition root). */
export type ActivityDeps = OutboundActivityDeps &
  InboundActivityDeps &
  PollActivityDeps &
  ImportActivityDeps &
  MassUpdateActivityDeps;

/** All activities of the worker, keyed by the names workflows call them by. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createOutboundActivities(deps),
    ...createInboundActivities(deps),
    ...createPollActivities(deps),
    ...createImportActivities(deps),
    ...createMassUpdateActivities(deps),
  };
}

/** The activities as workflows see them (`import type` + `proxyActivities<Activities>`). */
export type Activities = ReturnType<typeof createActivities>;
