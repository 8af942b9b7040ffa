import { Context } from '@temporalio/activity';
import { NotFoundError, PermanentError } from '../adapters/http/errors';
import type { S360Client, S360ContactUpdate, S360NewContact } from '../adapters/s360/s360-client';
import type { S360Contact } from '../adapters/s360/s360-contact';
import type { MappingPlan } from '../mapping/compile-mapping';
import type { CrmEntity } from '../mapping/mapping-config-schema';
import {
  crmIdOfKey,
  type InboundChange,
  type SyncConflict,
  type SyncedFieldValue,
  type SyncStore,
} from '../store/sync-store';
import type {
  ApplyInboundChangesInput,
  ApplyInboundChangesResult,
  ClaimInboundChangesInput,
  ClaimInboundChangesResult,
  InboundActivities,
  ParkInboundContactsInput,
} from './inbound-activity-types';
import { credentialsFailure, isCredentialsRefusal, toActivityFailure } from './translate-error';

/** What the inbound activities are built from (the worker passes the real ones, tests fakes). */
export interface InboundActivityDeps {
  store: SyncStore;
  s360: Pick<S360Client, 'getContactData' | 'saveIndividualContactData' | 'createCulturalContact'>;
  mapping: Pick<MappingPlan, 'rules' | 'mapInbound' | 'mapOutbound'>;
}

/** Parking codes the inbound activities use. */
export const InboundParkCode = {
  /** S-360 does not know the contact. */
  NotFound: 'NOT_FOUND',
  /** The CRM record cannot be mapped to valid S-360 values; the CRM field is given. */
  InvalidRecord: 'INVALID_RECORD',
  /** A relay created in the CRM: S-360 needs its structure, which creating from the CRM does not give yet. */
  RelayNeedsStructure: 'RELAY_NEEDS_STRUCTURE',
} as const;

/** The S-360 parts `saveIndividualContactData` replaces. */
const savableSections = ['general', 'comMeans', 'addresses', 'authorizations', 'criteria'] as const;

/**
 * The activities of the `inboundSync` workflow: CRM changes, stored by the receiver, are mapped back with the
 * mapping engine and written to S-360 through its rate-limited API. A change equal to the last state crm-sync
 * synced is an echo of its own write and is not sent back; after a write, the synced state becomes what the
 * outbound direction would push for the contact now, so that S-360's notification of that write is recognised as
 * an echo too. A record created in the CRM (queued as `crm:<crmId>`) becomes a new S-360 contact, linked to the
 * CRM record and queued for the outbound sync, which gives the CRM its contact number.
 */
export function createInboundActivities(deps: InboundActivityDeps): InboundActivities {
  const { store, s360, mapping } = deps;
  const inboundFieldsByEntity = new Map<CrmEntity, string[]>();
  const inboundFields = (entity: CrmEntity): string[] => {
    let fields = inboundFieldsByEntity.get(entity);
    if (!fields) {
      fields = mapping.rules
        .filter((rule) => rule.direction !== 'outbound' && rule.entities.has(entity))
        .map((rule) => rule.crm);
      inboundFieldsByEntity.set(entity, fields);
    }
    return fields;
  };

  async function claimInboundChanges(input: ClaimInboundChangesInput): Promise<ClaimInboundChangesResult> {
    const claimed = await store.claim({
      direction: 'inbound',
      target: input.target,
      claimId: input.claimId,
      limit: input.limit,
    });
    return { contactNumbers: claimed.map((entry) => entry.contactNumber) };
  }

  async function applyInboundChanges(input: ApplyInboundChangesInput): Promise<ApplyInboundChangesResult> {
    const context = Context.current();
    const signal = context.cancellationSignal;
    const key = { direction: 'inbound', target: input.target } as const;
    const result: ApplyInboundChangesResult = {
      applied: 0,
      created: 0,
      deleted: 0,
      echoes: 0,
      unchanged: 0,
      parked: 0,
    };
    const changes = new Map(
      (await store.getInboundChanges({ target: input.target, contactNumbers: input.contactNumbers })).map(
        (change) => [change.contactNumber, change],
      ),
    );
    const synced = await store.getSyncedStates({
      target: input.target,
      contactNumbers: input.contactNumbers,
    });
    const park = async (contactNumber: string, code: string, reason: string, field?: string) => {
      context.log.warn('Parking inbound change', {
        target: input.target,
        contactNumber,
        code,
        reason,
        field,
      });
      await store.park({
        ...key,
        claimId: input.claimId,
        contactNumber,
        code,
        reason,
        ...(field ? { field } : {}),
      });
      result.parked += 1;
    };
    const done = async (contactNumber: string) => {
      await store.acknowledge({ ...key, claimId: input.claimId, contactNumbers: [contactNumber] });
    };

    // Each contact is acknowledged as soon as it is handled, so a retried attempt only redoes the unfinished ones.
    // A key is a contact number, or `crm:<crmId>` for a record created in the CRM.
    for (const key of input.contactNumbers) {
      if (signal.aborted) throw signal.reason;
      const change = changes.get(key);
      try {
        const crmId = crmIdOfKey(key);
        // A record created in the CRM: once linked (a retry, or a later edit), an edit of its contact.
        const contactNumber =
          crmId === undefined ? key : await store.contactNumberOfCrmId({ target: input.target, crmId });
        if (!change) {
          await done(key);
        } else if (contactNumber === undefined) {
          const outcome =
            change.kind === 'changed' ? await createContact(change, crmId ?? '', signal) : undefined;
          if (outcome?.kind === 'parked') {
            await park(key, outcome.code, outcome.reason, outcome.field);
          } else {
            if (outcome) result.created += 1;
            await done(key);
          }
        } else if (change.kind === 'deleted') {
          // Seed 003: a record deleted in the CRM flags the contact in S-360; it is never deleted there.
          await s360.saveIndividualContactData({ contactNumber, active: false }, { signal });
          result.deleted += 1;
          await done(key);
        } else {
          const syncedFields =
            contactNumber === key
              ? synced.get(key)
              : (await store.getSyncedStates({ target: input.target, contactNumbers: [contactNumber] })).get(
                  contactNumber,
                );
          // A contact created from the CRM that the CRM does not know by number yet: no synced state is saved, so
          // that the outbound sync still pushes it (with its number) instead of taking it for an echo.
          const awaitingPush = contactNumber !== key && syncedFields === undefined;
          const outcome = await applyChange(
            { ...change, contactNumber },
            syncedFields,
            signal,
            !awaitingPush,
          );
          if (outcome.kind === 'parked') {
            await park(key, outcome.code, outcome.reason, outcome.field);
          } else {
            result[outcome.kind] += 1;
            await done(key);
          }
        }
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        if (err instanceof NotFoundError) {
          await park(key, InboundParkCode.NotFound, err.message);
        } else if (isCredentialsRefusal(err)) {
          throw credentialsFailure(err);
        } else if (err instanceof PermanentError) {
          await park(key, err.code, err.message);
        } else {
          throw toActivityFailure(err);
        }
      }
      context.heartbeat(key);
    }
    return result;
  }

  type Parked = { kind: 'parked'; code: string; reason: string; field?: string };

  /**
   * Creates the S-360 contact of a record new in the CRM: the CRM fields mapped inbound over an empty contact, a
   * person as an INDIVIDUAL (PUBLIC), an account as a STRUCTURE. The CRM record is linked to the new contact number
   * at once, so that a retry or a later edit updates this contact instead of creating another, and the contact is
   * queued for the outbound sync, which gives the CRM its contact number.
   */
  async function createContact(
    change: InboundChange,
    crmId: string,
    signal: AbortSignal,
  ): Promise<{ kind: 'created'; contactNumber: string } | Parked> {
    const entity = change.entity ?? 'person';
    if (entity === 'relay') {
      return {
        kind: 'parked',
        code: InboundParkCode.RelayNeedsStructure,
        reason: `CRM record ${crmId} is a relay new in the CRM: S-360 needs its structure, and creating relays from the CRM is not supported yet`,
      };
    }
    const mapped = mapping.mapInbound({ entity, fields: change.fields });
    if (!mapped.ok) return invalidRecord(mapped);
    const draft = mapped.contact as Partial<S360Contact>;
    const contact: S360NewContact = {
      contactType: entity === 'account' ? 'STRUCTURE' : 'INDIVIDUAL',
      ...(entity === 'person' ? { role: 'PUBLIC' as const } : {}),
      general: draft.general ?? {},
      ...(draft.comMeans ? { comMeans: draft.comMeans } : {}),
      ...(draft.addresses ? { addresses: draft.addresses } : {}),
      ...(draft.authorizations ? { authorizations: draft.authorizations } : {}),
      ...(draft.criteria ? { criteria: draft.criteria } : {}),
    };
    const { contactNumber } = await s360.createCulturalContact(contact, { signal });
    await store.linkCrmRecord({ target: change.target, contactNumber, entity, crmId });
    // No synced state yet: the outbound sync must push the new contact, with its number, to the CRM record.
    await store.enqueue({ direction: 'outbound', targets: [change.target], contactNumbers: [contactNumber] });
    Context.current().log.info('Created an S-360 contact for a record new in the CRM', {
      target: change.target,
      crmId,
      contactNumber,
    });
    return { kind: 'created', contactNumber };
  }

  type Outcome = { kind: 'applied' | 'echoes' | 'unchanged' } | Parked;

  async function applyChange(
    change: InboundChange,
    syncedFields: Record<string, SyncedFieldValue> | undefined,
    signal: AbortSignal,
    saveState = true,
  ): Promise<Outcome> {
    const entity = change.entity ?? 'person';
    const fields = inboundFields(entity).filter((field) => Object.hasOwn(change.fields, field));
    if (syncedFields && fields.every((field) => sameValue(change.fields[field], syncedFields[field]))) {
      return { kind: 'echoes' };
    }
    const base = await s360.getContactData(change.contactNumber, { signal });
    const { toWrite, conflicts } = merge(change, entity, fields, syncedFields, base);
    const mapped = mapping.mapInbound({ entity, fields: toWrite }, base);
    if (!mapped.ok) return invalidRecord(mapped);
    const updated = mapped.contact as unknown as S360Contact;
    const update: S360ContactUpdate = { contactNumber: change.contactNumber };
    for (const section of savableSections) {
      if (sectionText(updated[section]) !== sectionText(base[section])) {
        (update as unknown as Record<string, unknown>)[section] = updated[section];
      }
    }
    const kind = Object.keys(update).length > 1 ? 'applied' : 'unchanged';
    if (kind === 'applied') await s360.saveIndividualContactData(update, { signal });
    await store.recordConflicts(conflicts);
    // What both sides now hold, as the outbound direction sees it: S-360's notification of this write is an echo.
    // Where S-360 won a conflict the CRM still holds its own value: kept as such, so the outbound sync sends it.
    const agreed = mapping.mapOutbound(updated);
    const state = { ...(agreed.ok ? agreed.record.fields : change.fields) };
    for (const conflict of conflicts)
      if (conflict.winner === 's360') state[conflict.field] = conflict.crmValue;
    if (!saveState) return { kind };
    await store.saveSyncedStates({
      target: change.target,
      states: [{ contactNumber: change.contactNumber, fields: state }],
    });
    return { kind };
  }

  /**
   * Seed 002, section 5: a three-way merge against the last synced state. A field the CRM did not change keeps
   * S-360's value; a field only the CRM changed takes the CRM's; a field both changed (to different values) is a
   * conflict, decided by the field's owner in the mapping — `s360`, `crm`, or `latest` (the later of the CRM
   * change and S-360's last modification) — and recorded. Without a synced state (never synced), the CRM's values
   * are taken.
   */
  function merge(
    change: InboundChange,
    entity: CrmEntity,
    fields: readonly string[],
    syncedFields: Record<string, SyncedFieldValue> | undefined,
    base: S360Contact,
  ): { toWrite: Record<string, SyncedFieldValue>; conflicts: Array<Omit<SyncConflict, 'decidedAt'>> } {
    const toWrite: Record<string, SyncedFieldValue> = {};
    const conflicts: Array<Omit<SyncConflict, 'decidedAt'>> = [];
    const current = syncedFields ? mapping.mapOutbound(base) : undefined;
    const s360Now = current?.ok ? current.record.fields : undefined;
    for (const field of fields) {
      const crmValue = change.fields[field] ?? null;
      if (!syncedFields || !s360Now || !Object.hasOwn(s360Now, field)) {
        toWrite[field] = crmValue;
        continue;
      }
      const baseValue = syncedFields[field] ?? null;
      const s360Value = s360Now[field] ?? null;
      if (sameValue(crmValue, baseValue)) continue;
      if (sameValue(s360Value, baseValue) || sameValue(s360Value, crmValue)) {
        toWrite[field] = crmValue;
        continue;
      }
      const policy = ownerOf(entity, field);
      const winner =
        policy === 'latest'
          ? Date.parse(change.changedAt) >= Date.parse(base.lastModificationDate)
            ? 'crm'
            : 's360'
          : policy;
      conflicts.push({
        target: change.target,
        contactNumber: change.contactNumber,
        field,
        baseValue,
        s360Value,
        crmValue,
        policy,
        winner,
      });
      if (winner === 'crm') toWrite[field] = crmValue;
    }
    return { toWrite, conflicts };
  }

  function ownerOf(entity: CrmEntity, field: string): 's360' | 'crm' | 'latest' {
    return (
      mapping.rules.find(
        (rule) => rule.crm === field && rule.direction !== 'outbound' && rule.entities.has(entity),
      )?.owner ?? 'latest'
    );
  }

  async function parkInboundContacts(input: ParkInboundContactsInput): Promise<{ parked: number }> {
    // Only the contacts this claim still holds: the ones a failed batch handled before failing are done.
    const held = new Set(
      (
        await store.claim({ direction: 'inbound', target: input.target, claimId: input.claimId, limit: 0 })
      ).map((entry) => entry.contactNumber),
    );
    const toPark = input.contactNumbers.filter((contactNumber) => held.has(contactNumber));
    for (const contactNumber of toPark) {
      await store.park({
        direction: 'inbound',
        target: input.target,
        claimId: input.claimId,
        contactNumber,
        code: input.code,
        reason: input.reason,
      });
    }
    return { parked: toPark.length };
  }

  return { claimInboundChanges, applyInboundChanges, parkInboundContacts };
}

/** A section as text to compare, an attribute set to null being the same as an absent one. */
function sectionText(section: unknown): string | undefined {
  return JSON.stringify(section, (_key, value: unknown) => (value === null ? undefined : value));
}

/** Equal as synced values: absent and null are the same. */
function sameValue(a: SyncedFieldValue | undefined, b: SyncedFieldValue | undefined): boolean {
  return (a ?? null) === (b ?? null);
}

/** A CRM record the mapping cannot turn into valid S-360 values: parked with the field and the reason. */
function invalidRecord(failure: { field: string; reason: string }) {
  return {
    kind: 'parked' as const,
    code: InboundParkCode.InvalidRecord,
    reason: failure.reason,
    field: failure.field,
  };
}
