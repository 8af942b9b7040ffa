import type { CrmAdapter } from './crm-adapter';
import { WebhookCrmAdapter, type WebhookApiEndpoint } from './webhook-crm-adapter';

export type {
  CrmAdapter,
  CrmChangesPage,
  CrmListChangesInput,
  CrmPush,
  CrmPushRecordResult,
  CrmPushResult,
  CrmQueryInput,
  CrmQueryPage,
  CrmQueryRecord,
} from './crm-adapter';
export {
  WebhookCrmAdapter,
  type WebhookApiEndpoint,
  type WebhookCrmAdapterOptions,
} from './webhook-crm-adapter';

/**
 * A CRM target as configured. Only `webhook` exists for now; Salesforce adds a member to this union and a case
 * to {@link createCrmAdapter}.
 */
export type CrmAdapterTarget = {
  name: string;
  kind: 'webhook';
  url: string;
  signingSecret: string;
  timeoutMs?: number;
  /** The CRM's change list, when crm-sync polls it. */
  changes?: WebhookApiEndpoint;
  /** The CRM's record search, for mass updates from a CRM query. */
  query?: WebhookApiEndpoint;
};

/** Builds the adapter of one configured CRM target (called once per target by the worker). */
export function createCrmAdapter(target: CrmAdapterTarget): CrmAdapter {
  switch (target.kind) {
    case 'webhook':
      return new WebhookCrmAdapter({
        target: target.name,
        url: target.url,
        signingSecret: target.signingSecret,
        ...(target.timeoutMs !== undefined ? { timeoutMs: target.timeoutMs } : {}),
        ...(target.changes !== undefined ? { changes: target.changes } : {}),
        ...(target.query !== undefined ? { query: target.query } : {}),
      });
  }
}
