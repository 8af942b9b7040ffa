import type { ImportPageCounts } from '../activities/import-activity-types';

/** Counts of a page with nothing done yet. Pure: the import activity and workflow both count with it. */
export function emptyImportPageCounts(): ImportPageCounts {
  return {
    imported: 0,
    rejected: 0,
    parked: 0,
    unchanged: 0,
    leftToOutboundSync: 0,
    heldRelays: 0,
    resumedPushes: 0,
    duplicatePushes: 0,
    pushes: 0,
  };
}

/** Adds a page's counts into `into`. */
export function addImportPageCounts(into: ImportPageCounts, page: ImportPageCounts): void {
  for (const name of Object.keys(page) as Array<keyof ImportPageCounts>) into[name] += page[name];
}
