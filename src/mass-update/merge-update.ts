import type { S360ContactUpdate } from '../adapters/s360/s360-client';
import type { S360Contact } from '../adapters/s360/s360-contact';

/**
 * `saveIndividualContactData` replaces the lists it is given (authorizations, criteria, addresses) as a whole,
 * while a mass update row names only some of their entries ("authorization:NEWSLETTER", the main address's town):
 * sent as it is, the row would drop every other opt-in, criterion or address of the contact.
 */
export function replacesLists(update: S360ContactUpdate): boolean {
  return (
    update.authorizations !== undefined || update.criteria !== undefined || update.addresses !== undefined
  );
}

/**
 * The update that changes what the row names and keeps the rest of the contact's lists: opt-ins and criteria are
 * the contact's, in its order, with the entries of the codes the row names taking the row's value, and the codes
 * the contact does not have yet added at the end; the row's main address changes the fields it gives of the
 * contact's main address (other addresses of the row are added). The other parts of the update are left as they
 * are (S-360 merges `general` and `comMeans` field by field itself).
 */
export function mergeListsInto(contact: S360Contact, update: S360ContactUpdate): S360ContactUpdate {
  const merged: S360ContactUpdate = { ...update };
  if (update.authorizations) {
    merged.authorizations = mergeByCode(contact.authorizations, update.authorizations);
  }
  if (update.criteria) merged.criteria = mergeByCode(contact.criteria, update.criteria);
  if (update.addresses) merged.addresses = mergeAddresses(contact.addresses, update.addresses);
  return merged;
}

type AddressInput = NonNullable<S360ContactUpdate['addresses']>[number];

function mergeAddresses(current: readonly AddressInput[], changes: readonly AddressInput[]): AddressInput[] {
  const main = changes.find((change) => change.isMain === true);
  const others = changes.filter((change) => change !== main);
  const hasMain = current.some((address) => address.isMain === true);
  const kept = current.map((address) =>
    main && address.isMain === true ? { ...address, ...main } : address,
  );
  return [...kept, ...(main && !hasMain ? [main] : []), ...others];
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
