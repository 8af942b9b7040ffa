import { Context } from '@temporalio/activity';
import type { S360Client } from '../adapters/s360/s360-client';
import type { HeldRelay } from '../store/sync-store';
import type {
  ImportActivities,
  ImportContactPageInput,
  ImportContactPageResult,
  ImportPageCounts,
  ListImportContactsInput,
  ListImportContactsResult,
  ReleaseImportInput,
  ReleaseImportResult,
} from './import-activity-types';
import { emptyImportPageCounts } from '../workflows/import-page-counts';
import { createOutboundPushSteps, type OutboundActivityDeps } from './outbound-activities';
import { credentialsFailure, isCredentialsRefusal, toActivityFailure } from './translate-error';

/** What the import activities are built from: the outbound ones' (they push the same way), and S-360 search. */
export interface ImportActivityDeps extends OutboundActivityDeps {
  s360: Pick<S360Client, 'getContactData' | 'searchContact'>;
}

/** Heartbeat details of {@link ImportActivities.listImportContacts}: where the current pass stands. */
export interface ListingProgress {
  offset: number;
  /** S-360's total when this pass started. */
  totalAtStart: number | null;
  relisted: number;
}

/** Heartbeat details of {@link ImportActivities.importContactPage}: counts up to the pushes confirmed. */
export interface PageProgress {
  /** Pushes of the page confirmed (delivered, or with nothing to deliver). */
  chunksDone: number;
  counts: ImportPageCounts;
  /** Contacts of the next push fetched so far (for progress displays; a retry fetches them again). */
  preparing?: number;
}

/** Passes over the search when S-360's total moves while listing (contacts created or deleted meanwhile). */
const maxListingPasses = 3;

/**
 * The activities of the `initialImport` workflow. A page is imported by the same steps as an outbound push
 * (prepare, deliver, release held relays), under an import claim in the outbound outbox, so that the outbound sync
 * and the import never push the same contact at the same time, and a change made in S-360 during the import is
 * pushed by the outbound sync after the import's push.
 */
export function createImportActivities(deps: ImportActivityDeps): ImportActivities {
  const { store, s360 } = deps;
  const steps = createOutboundPushSteps(deps);

  async function listImportContacts(input: ListImportContactsInput): Promise<ListImportContactsResult> {
    const context = Context.current();
    const signal = context.cancellationSignal;
    const progress = resumeListing(context.info.heartbeatDetails);
    const size = input.searchPageSize;
    const alive = keepAlive(() => context.heartbeat({ ...progress } satisfies ListingProgress));
    try {
      for (;;) {
        let total = progress.totalAtStart;
        let listed = 0;
        for (;;) {
          const page = await s360.searchContact(
            input.criteria,
            { offset: progress.offset, size },
            { signal },
          );
          listed = await store.addImportContacts({
            listId: input.listId,
            contactNumbers: page.contactNumbers,
          });
          total ??= page.total;
          progress.totalAtStart = total;
          progress.offset += page.contactNumbers.length;
          context.heartbeat({ ...progress } satisfies ListingProgress);
          if (page.contactNumbers.length < size || progress.offset >= page.total) {
            // A contact deleted before the offset while listing shifts the rest by one, and one would be missed:
            // when the total moved, list again from the start (contacts already listed are kept once).
            if (page.total === total || progress.relisted + 1 >= maxListingPasses) {
              return { listed, relisted: progress.relisted };
            }
            break;
          }
        }
        progress.relisted += 1;
        progress.offset = 0;
        progress.totalAtStart = null;
        context.log.info('S-360 total changed while listing: listing again', { listId: input.listId });
      }
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (isCredentialsRefusal(err)) throw credentialsFailure(err);
      throw toActivityFailure(err);
    } finally {
      alive.stop();
    }
  }

  async function importContactPage(input: ImportContactPageInput): Promise<ImportContactPageResult> {
    const context = Context.current();
    const signal = context.cancellationSignal;
    const contactNumbers = await store.getImportContacts({
      listId: input.listId,
      fromSeq: input.fromSeq,
      limit: input.count,
    });
    const chunks: string[][] = [];
    for (let start = 0; start < contactNumbers.length; start += input.payloadSize) {
      chunks.push(contactNumbers.slice(start, start + input.payloadSize));
    }
    const progress = resumePage(context.info.heartbeatDetails, chunks.length);
    const { counts } = progress;
    let preparing = 0;
    const heartbeat = (): void =>
      context.heartbeat({
        chunksDone: progress.chunksDone,
        counts: { ...counts },
        preparing,
      } satisfies PageProgress);
    const alive = keepAlive(heartbeat);
    const heldRelays: HeldRelay[] = [];
    // A page's first attempt knows that nothing of it is staged or held yet: it holds the whole page at once and
    // skips the lookups a retry needs (a third of the store's work per push).
    const firstAttempt = input.firstTry === true && context.info.attempt === 1;
    try {
      const busyAtStart = firstAttempt
        ? new Set(
            (await store.claimForImport({ target: input.target, claimId: input.claimId, contactNumbers }))
              .busy,
          )
        : undefined;
      for (const [index, chunk] of chunks.entries()) {
        const pushId = `${input.claimId}/${index}`;
        const staged = firstAttempt ? undefined : await store.getStagedPush(pushId);
        // Relays held back by a push are kept with it: a retry releases them too.
        heldRelays.push(...(staged?.heldRelays ?? []));
        if (index < progress.chunksDone) continue;
        if (staged?.deliveredAt) {
          // Confirmed by an attempt that stopped before its heartbeat: counted as imported.
          counts.imported += staged.contactNumbers.length;
          counts.pushes += 1;
          progress.chunksDone = index + 1;
          continue;
        }
        if (staged) counts.resumedPushes += 1;
        const claimId = input.claimId;
        const { claimed, busy } = busyAtStart
          ? {
              claimed: chunk.filter((contactNumber) => !busyAtStart.has(contactNumber)),
              busy: chunk.filter((contactNumber) => busyAtStart.has(contactNumber)),
            }
          : staged
            ? { claimed: chunk, busy: [] }
            : await store.claimForImport({ target: input.target, claimId, contactNumbers: chunk });
        counts.leftToOutboundSync += busy.length;
        const prepared = await steps.prepare(
          { target: input.target, claimId, pushId, contactNumbers: claimed },
          {
            signal,
            // No heartbeat per contact (encoding one costs more than the contact's mapping): the count is sent by
            // the next heartbeat, after the push or from the timer.
            onProgress: (prepare) => {
              preparing = prepare.done;
            },
            log: context.log,
            nothingStaged: firstAttempt,
          },
        );
        counts.parked += prepared.parked;
        counts.unchanged += prepared.echoes;
        if (!staged) heldRelays.push(...prepared.heldRelays);
        if (prepared.stagedContactNumbers.length > 0) {
          const delivered = await steps.deliver({ target: input.target, claimId, pushId }, signal, prepared);
          counts.pushes += 1;
          counts.imported += delivered.delivered;
          counts.rejected += delivered.rejected;
          if (delivered.duplicate) counts.duplicatePushes += 1;
        }
        progress.chunksDone = index + 1;
        preparing = 0;
        heartbeat();
      }

      if (heldRelays.length > 0) {
        const released = await steps.releaseHeld({
          target: input.target,
          claimId: input.claimId,
          relays: heldRelays,
        });
        counts.heldRelays += released.released;
        counts.parked += released.parked;
      }
      return { contacts: contactNumbers.length, ...counts };
    } finally {
      alive.stop();
    }
  }

  async function releaseImport(input: ReleaseImportInput): Promise<ReleaseImportResult> {
    const released = await store.releaseImportClaims({
      target: input.target,
      claimIdPrefix: input.claimIdPrefix,
    });
    for (const listId of input.listIds) await store.forgetImportContacts(listId);
    return { released };
  }

  return { listImportContacts, importContactPage, releaseImport };
}

/**
 * Heartbeats every few seconds besides the heartbeats after each push or search page, so that a wait for an S-360
 * budget slot (up to a minute) does not look like a dead worker, while a worker that really died is noticed within
 * the heartbeat timeout (20 s). The same heartbeats bring a cancellation to the activity.
 */
function keepAlive(heartbeat: () => void): { stop(): void } {
  const timer = setInterval(heartbeat, 5_000);
  return { stop: () => clearInterval(timer) };
}

function resumeListing(details: unknown): ListingProgress {
  if (details && typeof details === 'object') {
    const { offset, totalAtStart, relisted } = details as Partial<ListingProgress>;
    if (typeof offset === 'number' && offset >= 0 && typeof relisted === 'number') {
      return { offset, totalAtStart: typeof totalAtStart === 'number' ? totalAtStart : null, relisted };
    }
  }
  return { offset: 0, totalAtStart: null, relisted: 0 };
}

function resumePage(details: unknown, chunks: number): PageProgress {
  if (details && typeof details === 'object') {
    const { chunksDone, counts } = details as Partial<PageProgress>;
    if (
      typeof chunksDone === 'number' &&
      Number.isInteger(chunksDone) &&
      chunksDone >= 0 &&
      chunksDone <= chunks &&
      counts &&
      typeof counts === 'object'
    ) {
      return { chunksDone, counts: { ...emptyImportPageCounts(), ...counts } };
    }
  }
  return { chunksDone: 0, counts: emptyImportPageCounts() };
}
