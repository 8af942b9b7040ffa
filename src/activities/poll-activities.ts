import { Context } from '@temporalio/activity';
import type { CrmAdapter } from '../adapters/crm/crm-adapter';
import { toInboundChange } from '../adapters/crm/crm-change-event';
import type { SyncStore } from '../store/sync-store';
import type { PollActivities, PollCrmChangesInput, PollCrmChangesResult } from './poll-activity-types';
import { crmAdapterOrFailure, toActivityFailure } from './translate-error';

/** What the polling activity is built from (the worker passes the real ones, tests fakes). */
export interface PollActivityDeps {
  store: SyncStore;
  /** The adapter of a configured CRM target; throws for an unknown one. */
  crmAdapter(target: string): CrmAdapter;
}

/** Pages read by one call at most: a long backlog is read over several runs. */
export const maxPollPagesPerCall = 20;
/** Used when the adapter does not say how many changes to ask for. */
export const defaultPollPageSize = 100;

/**
 * Polling mode of the inbound direction: the CRM's change list is read from the stored cursor, page after page
 * until a page is empty, and each change is recorded like a webhook-delivered one (the store keeps the latest
 * change per record, so reading a page twice after a crash changes nothing). The cursor is saved after each page.
 */
export function createPollActivities(deps: PollActivityDeps): PollActivities {
  const { store } = deps;

  async function pollCrmChanges(input: PollCrmChangesInput): Promise<PollCrmChangesResult> {
    const adapter = crmAdapterOf(input.target);
    if (!adapter.listChanges) return { received: 0, pages: 0 };
    const context = Context.current();
    const signal = context.cancellationSignal;
    const limit = adapter.changesPageSize ?? defaultPollPageSize;
    const result: PollCrmChangesResult = { received: 0, pages: 0 };
    let cursor = await store.getPollCursor(input.target);
    while (result.pages < maxPollPagesPerCall) {
      if (signal.aborted) throw signal.reason;
      let page;
      try {
        page = await adapter.listChanges(
          { ...(cursor !== undefined ? { after: cursor } : {}), limit },
          { signal },
        );
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        throw toActivityFailure(err);
      }
      result.pages += 1;
      for (const event of page.changes) {
        await store.recordInboundChange(toInboundChange(input.target, event));
      }
      result.received += page.changes.length;
      if (page.next !== cursor) {
        await store.savePollCursor(input.target, page.next);
        cursor = page.next;
      }
      context.heartbeat({ pages: result.pages, received: result.received, cursor });
      if (page.changes.length === 0) break;
    }
    if (result.received > 0) context.log.info('CRM changes polled', { target: input.target, ...result });
    return result;
  }

  const crmAdapterOf = (target: string): CrmAdapter => crmAdapterOrFailure(deps.crmAdapter, target);

  return { pollCrmChanges };
}
