import type { S360ContactUpdate } from '../adapters/s360/s360-client';
import type { S360Contact } from '../adapters/s360/s360-contact';

/**
 * `saveIndividualContactData` replaces the lists it is given (authorizations, criteria) as a whole, while a mass
 * update row names only some of their codes ("authorization:NEWSLETTER"): sent as it is, the row would drop every
 * other opt-in and criterion of the contact.
 */
export function replacesLists(update: S360ContactUpdate): boolean {
  return update.authorizations !== undefined || update.criteria !== undefined;
}

/**
 * The update that changes what the row names and keeps the rest of the contact's lists: each list is the
 * contact's, in its order, with the entries of the codes the row names taking the row's value, and the codes the
 * contact does not have yet added at the end. The other parts of the update are left as they are (S-360 merges
 * `general` and `comMeans` field by field itself).
 */
export function mergeListsInto(contact: S360Contact, update: S360ContactUpdate): S360ContactUpdate {
  const merged: S360ContactUpdate = { ...update };
  if (update.authorizations)
    merged.authorizations = mergeByCode(contact.authorizations, update.authorizations);
  if (update.criteria) merged.criteria = mergeByCode(contact.criteria, update.criteria);
  return merged;
}

function mergeByCode<T extends { code: string }>(current: readonly T[], changes: readonly T[]): T[] {
  const byCode = new Map(changes.map((change) => [change.code, change]));
  const kept = current.map((entry) => {
    const change = byCode.get(entry.code);
    byCode.delete(entry.code);
    return change ?? entry;
  });
  return [...kept, ...byCode.values()];
}
