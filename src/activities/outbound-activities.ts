import { ApplicationFailure, Context } from '@temporalio/activity';
import type { CrmAdapter } from '../adapters/crm/crm-adapter';
import { NotFoundError, PermanentError } from '../adapters/http/errors';
import type { S360Client } from '../adapters/s360/s360-client';
import type { CrmContactRecord } from '../mapping/crm-contact-record';
import { entityOf, type ContactMappingResult } from '../mapping/compile-mapping';
import type { S360Contact } from '../adapters/s360/s360-contact';
import type { CrmLink, StagedPush, SyncedFieldValue, SyncStore } from '../store/sync-store';
import { FailureType } from '../failure-types';
import type {
  ClaimOutboundContactsInput,
  ClaimOutboundContactsResult,
  DeliverOutboundPushInput,
  DeliverOutboundPushResult,
  OutboundActivities,
  ParkOutboundContactsInput,
  ParkOutboundContactsResult,
  PrepareOutboundPushInput,
  PrepareOutboundPushResult,
  HeldRelay,
  ReleaseHeldRelaysInput,
  ReleaseHeldRelaysResult,
} from './outbound-activity-types';
import {
  credentialsFailure,
  crmAdapterOrFailure,
  isCredentialsRefusal,
  toActivityFailure,
} from './translate-error';

/** What the outbound activities are built from (the worker passes the real ones, tests fakes). */
export interface OutboundActivityDeps {
  store: SyncStore;
  s360: Pick<S360Client, 'getContactData'>;
  /** The adapter of a configured CRM target; throws for an unknown one. */
  crmAdapter(target: string): CrmAdapter;
  /** S-360 contact -> CRM record: the compiled mapping's `mapOutbound`. */
  mapContact(contact: S360Contact): ContactMappingResult;
  /**
   * What a target does with a contact deactivated or deleted in S-360 (seed 003): flag its record inactive
   * (`deactivate`, the default) or delete it.
   */
  removalOf?(target: string): 'deactivate' | 'delete';
}

/** Parking codes the outbound activities use. */
export const OutboundParkCode = {
  /** S-360 does not know the contact (any more). */
  NotFound: 'NOT_FOUND',
  /** The contact cannot be mapped to a valid CRM record; the field is given. */
  InvalidRecord: 'INVALID_RECORD',
  /** The CRM refused the record, or the whole push. */
  RejectedByCrm: 'REJECTED_BY_CRM',
  /** A relay whose structure cannot reach the CRM (it is parked itself). */
  AccountNotSynced: 'ACCOUNT_NOT_SYNCED',
} as const;

/**
 * Progress of {@link OutboundActivities.prepareOutboundPush}, sent as heartbeat details after every contact: a retry
 * resumes after the `done` first contacts instead of fetching them again.
 */
export interface PrepareProgress {
  /** How many of the input's contacts have been handled (fetched and mapped, or parked). */
  done: number;
  /** The records mapped so far. */
  records: CrmContactRecord[];
  /** How many of the `done` contacts were parked. */
  parked: number;
}

/**
 * The activities of the `outboundSync` workflow (contract in `outbound-activity-types.ts`). They are thin: they
 * call the store and the adapters, park what can never succeed, and turn the rest of the adapter errors into
 * Temporal failures (`translate-error.ts`) so that the workflow's retry policy decides.
 */
export function createOutboundActivities(deps: OutboundActivityDeps): OutboundActivities {
  const { store } = deps;
  const steps = createOutboundPushSteps(deps);

  async function claimOutboundContacts(
    input: ClaimOutboundContactsInput,
  ): Promise<ClaimOutboundContactsResult> {
    const claimed = await store.claim({
      direction: 'outbound',
      target: input.target,
      claimId: input.claimId,
      limit: input.limit,
    });
    return { contactNumbers: claimed.map((entry) => entry.contactNumber) };
  }

  async function prepareOutboundPush(input: PrepareOutboundPushInput): Promise<PrepareOutboundPushResult> {
    const context = Context.current();
    // The staged push (its body) stays out of the activity's result, hence out of the workflow's history.
    const {
      stagedPush: _stagedPush,
      stagedRecords: _stagedRecords,
      ...result
    } = await steps.prepare(input, {
      signal: context.cancellationSignal,
      resumeFrom: context.info.heartbeatDetails,
      // A copy: the records list grows after the call, and the heartbeat may be encoded later.
      onProgress: (progress) => context.heartbeat({ ...progress, records: [...progress.records] }),
      log: context.log,
    });
    return result;
  }

  async function deliverOutboundPush(input: DeliverOutboundPushInput): Promise<DeliverOutboundPushResult> {
    return steps.deliver(input, Context.current().cancellationSignal);
  }

  async function parkOutboundContacts(input: ParkOutboundContactsInput): Promise<ParkOutboundContactsResult> {
    for (const contactNumber of input.contactNumbers) {
      await store.park({
        direction: 'outbound',
        target: input.target,
        claimId: input.claimId,
        contactNumber,
        code: input.code,
        reason: input.reason,
      });
    }
    return { parked: input.contactNumbers.length };
  }

  return {
    claimOutboundContacts,
    prepareOutboundPush,
    deliverOutboundPush,
    releaseHeldRelays: steps.releaseHeld,
    parkOutboundContacts,
  };
}

/** How {@link OutboundPushSteps.prepare} reports and resumes; an activity passes its context's. */
export interface PrepareRun {
  /** Aborts between contacts (and the call in progress). */
  signal: AbortSignal;
  /** The last progress reported by a previous attempt (heartbeat details), if any. */
  resumeFrom?: unknown;
  /** Called after every contact; an activity heartbeats with it. The progress goes on changing after the call. */
  onProgress?(progress: Readonly<PrepareProgress>): void;
  log: { warn(message: string, meta?: Record<string, unknown>): void };
  /** The caller knows that nothing is staged under the push ID yet (a first attempt): no need to look. */
  nothingStaged?: boolean;
}

/**
 * What {@link OutboundPushSteps.prepare} answers: the activity's result, and the push staged, if any, with the
 * records its body holds when they are at hand (so that delivering it does not parse the body again).
 */
export type PreparedPush = PrepareOutboundPushResult & {
  stagedPush?: StagedPush;
  stagedRecords?: CrmContactRecord[];
};

/** The steps of a push, free of any activity context: the outbound activities and the import both run them. */
export interface OutboundPushSteps {
  /**
   * Fetches and maps the contacts of one push, parks those that can never go, leaves out echoes (acknowledged) and
   * relays whose account is not in the CRM yet (returned as held), and stages the payload under `pushId`. A push
   * already staged is not prepared again.
   */
  prepare(input: PrepareOutboundPushInput, run: PrepareRun): Promise<PreparedPush>;
  /**
   * Sends a staged push (the same bytes and `webhook-id` on every retry) and records what the CRM accepted. Given
   * the push `prepare` just staged, it does not read it back.
   */
  deliver(
    input: DeliverOutboundPushInput,
    signal: AbortSignal,
    prepared?: Pick<PreparedPush, 'stagedPush' | 'stagedRecords'>,
  ): Promise<DeliverOutboundPushResult>;
  /** Relays still waiting for their account: parked if the account is parked, else given back to the outbox. */
  releaseHeld(input: ReleaseHeldRelaysInput): Promise<ReleaseHeldRelaysResult>;
}

export function createOutboundPushSteps(deps: OutboundActivityDeps): OutboundPushSteps {
  const { store, s360, mapContact } = deps;
  const crmAdapterOf = (target: string): CrmAdapter => crmAdapterOrFailure(deps.crmAdapter, target);

  /** The answer for a push staged by an earlier attempt. */
  const alreadyStaged = (input: PrepareOutboundPushInput, staged: StagedPush): PreparedPush => {
    const prepared = staged.contactNumbers.length;
    const heldRelays = staged.heldRelays ?? [];
    // A retry after staging: echoes were acknowledged by the first attempt and are counted with the parked.
    return {
      prepared,
      parked: Math.max(0, input.contactNumbers.length - prepared - heldRelays.length),
      stagedContactNumbers: staged.contactNumbers,
      heldRelays,
      echoes: 0,
      stagedPush: staged,
    };
  };

  async function prepare(input: PrepareOutboundPushInput, run: PrepareRun): Promise<PreparedPush> {
    const staged = run.nothingStaged ? undefined : await store.getStagedPush(input.pushId);
    if (staged) return alreadyStaged(input, staged);

    const { signal } = run;
    const removal = deps.removalOf?.(input.target) ?? 'deactivate';
    const progress = resumeFrom(run.resumeFrom, input.contactNumbers.length);
    // What the store knows of these records (CRM links, last synced states) is read while S-360 is asked for them.
    const known = store.getSyncedRecords({ target: input.target, contactNumbers: input.contactNumbers });
    // Awaited where it is needed; a failure meanwhile is not an unhandled rejection.
    known.catch(() => undefined);
    const park = async (
      contactNumber: string,
      code: string,
      reason: string,
      field?: string,
    ): Promise<void> => {
      run.log.warn('Parking contact', { target: input.target, contactNumber, code, reason, field });
      await store.park({
        direction: 'outbound',
        target: input.target,
        claimId: input.claimId,
        contactNumber,
        code,
        reason,
        ...(field !== undefined ? { field } : {}),
      });
      progress.parked += 1;
    };

    for (const contactNumber of input.contactNumbers.slice(progress.done)) {
      if (signal.aborted) throw signal.reason;
      try {
        const contact = await s360.getContactData(contactNumber, { signal });
        if (!contact.active && removal === 'delete') {
          progress.records.push(removalRecord(contactNumber, entityOf(contact), 'delete'));
        } else {
          const mapped = mapContact(contact);
          if (!mapped.ok) {
            await park(contactNumber, OutboundParkCode.InvalidRecord, mapped.reason, mapped.field);
          } else {
            progress.records.push(
              contact.active ? mapped.record : { ...mapped.record, action: 'deactivate' },
            );
          }
        }
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        if (err instanceof NotFoundError) {
          // Deleted in S-360: a contact the CRM holds is removed there too; one it never got is parked.
          const link = (await known).get(contactNumber)?.link;
          if (link) progress.records.push(removalRecord(contactNumber, link.entity, removal));
          else await park(contactNumber, OutboundParkCode.NotFound, err.message);
        } else if (isCredentialsRefusal(err)) throw credentialsFailure(err);
        else if (err instanceof PermanentError) await park(contactNumber, err.code, err.message);
        else throw toActivityFailure(err);
      }
      progress.done += 1;
      run.onProgress?.(progress);
    }

    // Echo suppression: a record equal to the last state synced (crm-sync's own inbound write, notified back by
    // S-360) is not pushed again; it leaves the outbox as done.
    const synced = await known;
    const echoes = progress.records
      .filter(
        (record) =>
          (record.action ?? 'upsert') === 'upsert' &&
          sameFields(record.fields, synced.get(record.contactNumber)?.fields),
      )
      .map((record) => record.contactNumber);
    if (echoes.length > 0) {
      await store.acknowledge({
        direction: 'outbound',
        target: input.target,
        claimId: input.claimId,
        contactNumbers: echoes,
      });
      const echoed = new Set(echoes);
      progress.records = progress.records.filter((record) => !echoed.has(record.contactNumber));
    }

    // The links serve both: a relay goes only once its structure's account is in the CRM (referential integrity),
    // and a contact created from a record new in the CRM carries that record's CRM ID (the CRM links the two).
    // The accounts of relays are looked up too, unless they are in this push (looked up already).
    const inPush = new Set(input.contactNumbers);
    const otherAccounts = [
      ...new Set(
        progress.records.flatMap((record) =>
          record.entity === 'relay' && record.accountContactNumber && !inPush.has(record.accountContactNumber)
            ? [record.accountContactNumber]
            : [],
        ),
      ),
    ];
    const accountLinks =
      otherAccounts.length > 0
        ? await store.getCrmLinks({ target: input.target, contactNumbers: otherAccounts })
        : new Map<string, CrmLink>();
    const linkOf = (contactNumber: string): CrmLink | undefined =>
      synced.get(contactNumber)?.link ?? accountLinks.get(contactNumber);
    const ready: CrmContactRecord[] = [];
    const heldRelays: HeldRelay[] = [];
    for (const record of progress.records) {
      const account = record.entity === 'relay' ? record.accountContactNumber : undefined;
      if (account !== undefined && !linkOf(account)) {
        heldRelays.push({ contactNumber: record.contactNumber, accountContactNumber: account });
      } else {
        const crmId = linkOf(record.contactNumber)?.crmId;
        ready.push(crmId !== undefined ? { ...record, crmId } : record);
      }
    }
    // Accounts first in the payload, for CRMs that apply records in order.
    ready.sort((a, b) => entityOrder[a.entity] - entityOrder[b.entity]);

    const stagedContactNumbers = ready.map((record) => record.contactNumber);
    let stagedPush: StagedPush | undefined;
    if (ready.length > 0 || heldRelays.length > 0) {
      stagedPush = {
        pushId: input.pushId,
        target: input.target,
        contactNumbers: stagedContactNumbers,
        body: JSON.stringify(ready),
        heldRelays,
      };
      if (!(await store.stagePush(stagedPush))) {
        // Staged meanwhile by another attempt: that payload is the one every retry must send.
        const earlier = await store.getStagedPush(input.pushId);
        if (earlier) return alreadyStaged(input, earlier);
      }
    }
    return {
      prepared: ready.length,
      parked: progress.parked,
      stagedContactNumbers,
      heldRelays,
      echoes: echoes.length,
      ...(stagedPush ? { stagedPush, stagedRecords: ready } : {}),
    };
  }

  async function deliver(
    input: DeliverOutboundPushInput,
    signal: AbortSignal,
    prepared?: Pick<PreparedPush, 'stagedPush' | 'stagedRecords'>,
  ): Promise<DeliverOutboundPushResult> {
    const staged = prepared?.stagedPush ?? (await store.getStagedPush(input.pushId));
    if (!staged) {
      throw ApplicationFailure.create({
        type: FailureType.Configuration,
        nonRetryable: true,
        message: `No staged push "${input.pushId}" for target "${input.target}": prepareOutboundPush must stage it first`,
      });
    }
    const total = staged.contactNumbers.length;
    if (staged.deliveredAt) return { delivered: total, rejected: 0, duplicate: true };

    const records =
      (prepared?.stagedPush === staged ? prepared.stagedRecords : undefined) ??
      parseStagedRecords(staged.body, input.pushId);
    const key = { direction: 'outbound', target: input.target } as const;

    const adapter = crmAdapterOf(input.target);
    let result;
    try {
      result = await adapter.pushContacts({ pushId: input.pushId, records }, { signal });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (isCredentialsRefusal(err)) throw credentialsFailure(err);
      if (!(err instanceof PermanentError)) throw toActivityFailure(err);
      // The CRM refused the push as a whole (a 4xx): none of its records can go through as they are.
      for (const contactNumber of staged.contactNumbers) {
        await store.park({
          ...key,
          claimId: input.claimId,
          contactNumber,
          code: OutboundParkCode.RejectedByCrm,
          reason: err.message,
        });
      }
      await store.markPushDelivered(input.pushId);
      return { delivered: 0, rejected: total, duplicate: false };
    }

    const refusals = new Map(
      (result.records ?? [])
        .filter((record) => !record.ok)
        .map((record) => [record.contactNumber, record.reason ?? 'refused by the CRM (no reason given)']),
    );
    const accepted = staged.contactNumbers.filter((contactNumber) => !refusals.has(contactNumber));
    const acceptedSet = new Set(accepted);
    await store.recordDelivered({
      target: input.target,
      claimId: input.claimId,
      records: records
        .filter((record) => acceptedSet.has(record.contactNumber))
        .map((record) => ({
          contactNumber: record.contactNumber,
          entity: record.entity,
          fields: record.fields,
        })),
      // Without refusals, the push is delivered once recorded. With refusals, only once they are parked: an attempt
      // that stops before would otherwise leave them neither parked nor sent again.
      ...(refusals.size === 0 ? { pushId: input.pushId } : {}),
    });
    let rejected = 0;
    for (const contactNumber of staged.contactNumbers) {
      const reason = refusals.get(contactNumber);
      if (reason === undefined) continue;
      await store.park({
        ...key,
        claimId: input.claimId,
        contactNumber,
        code: OutboundParkCode.RejectedByCrm,
        reason,
      });
      rejected += 1;
    }
    if (refusals.size > 0) await store.markPushDelivered(input.pushId);
    return { delivered: accepted.length, rejected, duplicate: result.duplicate };
  }

  async function releaseHeld(input: ReleaseHeldRelaysInput): Promise<ReleaseHeldRelaysResult> {
    const key = { direction: 'outbound', target: input.target } as const;
    const accounts = [...new Set(input.relays.map((relay) => relay.accountContactNumber))];
    const parkedAccounts = new Map(
      (await store.listParked({ ...key, contactNumbers: accounts })).map((record) => [
        record.contactNumber,
        record,
      ]),
    );
    const synced = await store.getCrmLinks({ target: input.target, contactNumbers: accounts });
    const toRelease: string[] = [];
    let parked = 0;
    for (const relay of input.relays) {
      const account = parkedAccounts.get(relay.accountContactNumber);
      if (account) {
        await store.park({
          ...key,
          claimId: input.claimId,
          contactNumber: relay.contactNumber,
          code: OutboundParkCode.AccountNotSynced,
          reason: `its structure ${account.contactNumber} is parked (${account.code}: ${account.reason}); retry it once the structure is synced`,
        });
        parked += 1;
      } else {
        toRelease.push(relay.contactNumber);
      }
    }
    const missing = accounts.filter((account) => !synced.has(account) && !parkedAccounts.has(account));
    if (missing.length > 0) {
      await store.enqueue({ direction: 'outbound', targets: [input.target], contactNumbers: missing });
    }
    await store.release({ ...key, claimId: input.claimId, contactNumbers: toRelease });
    return { released: toRelease.length, parked };
  }

  return { prepare, deliver, releaseHeld };
}

/** The record asking the CRM to flag or delete a contact that S-360 deactivated or deleted. */
function removalRecord(
  contactNumber: string,
  entity: string,
  action: 'deactivate' | 'delete',
): CrmContactRecord {
  return {
    contactNumber,
    entity: entity === 'account' || entity === 'relay' ? entity : 'person',
    action,
    fields: {},
    sourceModifiedAt: new Date().toISOString(),
  };
}

/** Equal to the synced state on every field of the record (absent and null are the same). */
function sameFields(
  fields: CrmContactRecord['fields'],
  synced: Record<string, SyncedFieldValue> | undefined,
): boolean {
  if (!synced) return false;
  return Object.entries(fields).every(([name, value]) => (value ?? null) === (synced[name] ?? null));
}

/** The order of entities in a payload: accounts before the contacts that may refer to them. */
const entityOrder: Record<CrmContactRecord['entity'], number> = { account: 0, person: 1, relay: 2 };

/** The progress of a previous attempt, when its heartbeat details are usable; else a fresh start. */
function resumeFrom(details: unknown, total: number): PrepareProgress {
  if (details && typeof details === 'object') {
    const { done, records, parked } = details as Partial<PrepareProgress>;
    if (
      typeof done === 'number' &&
      Number.isInteger(done) &&
      done >= 0 &&
      done <= total &&
      Array.isArray(records) &&
      typeof parked === 'number'
    ) {
      return { done, records: [...records], parked };
    }
  }
  return { done: 0, records: [], parked: 0 };
}

function parseStagedRecords(body: string, pushId: string): CrmContactRecord[] {
  try {
    const records = JSON.parse(body) as unknown;
    if (Array.isArray(records)) return records as CrmContactRecord[];
  } catch {
    // reported below
  }
  throw ApplicationFailure.create({
    type: FailureType.Configuration,
    nonRetryable: true,
    message: `The staged push "${pushId}" does not hold a JSON array of records`,
  });
}
