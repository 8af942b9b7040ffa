import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import type { CrmChangeEvent } from '../adapters/crm/crm-change-event';
import { contactUpsertEventType } from '../adapters/crm/webhook-crm-adapter';
import type { CrmContactRecord } from '../mapping/crm-contact-record';
import { ChangeNotifier } from './change-notifier';
import { matchesRecordQuery, parseRecordQuery, RecordQueryError, type QueryCondition } from './record-query';
import {
  createRouter,
  FaultState,
  HttpError,
  intParam,
  isRecord,
  listenLocal,
  parseJson,
  readJsonBody,
  readRawBody,
  sendJson,
  validateOr400,
  type Route,
} from './sandbox-http';

export interface CrmSandboxOptions {
  /** 0 or absent: the OS chooses. */
  port?: number;
  /** Standard Webhooks secret (`whsec_` then base64) the pushes must be signed with. */
  signingSecret: string;
  /**
   * Accepted age (and future skew) of `webhook-timestamp`; default 300. The verifying library enforces 300 s
   * itself, so a larger value has no effect.
   */
  toleranceSeconds?: number;
  /** Records per push; more -> 413. Default 50. */
  maxRecordsPerPush?: number;
  /**
   * Where the sandbox POSTs its users' changes (`PATCH`/`DELETE /__sandbox/records/{contactNumber}`) as
   * Standard Webhooks signed {@link CrmChangeEvent}s, one per POST, in order, retried until a 2xx; a 4xx other
   * than 408/429 refuses the event for good. Absent: the changes are only listed by `GET /changes`.
   */
  changeWebhook?: { url: string; signingSecret: string };
  /** When set, `GET /changes` and `GET /query` require `Authorization: Bearer <apiToken>`; otherwise they are open. */
  apiToken?: string;
}

export interface CrmSandbox {
  url: string;
  port: number;
  /**
   * Resolves once every change so far was delivered to `changeWebhook` or refused by it (at once if it is not
   * set); rejects if the sandbox is closed first.
   */
  changesIdle(): Promise<void>;
  close(): Promise<void>;
}

/** One change made by a CRM user, as `GET /changes` lists it. */
export interface CrmSandboxChange {
  seq: number;
  /** The `webhook-id` of its POST: the same for every retry. */
  webhookId: string;
  event: CrmChangeEvent;
}

/** A contact as the CRM sandbox stores it. */
export interface CrmSandboxRecord extends CrmContactRecord {
  createdAt: string;
  updatedAt: string;
  /** How many pushes applied this record. */
  timesApplied: number;
  /** False once crm-sync flagged it (the contact was deactivated or deleted in S-360). */
  active: boolean;
  /** The `webhook-id` of the push that last applied it. */
  lastWebhookId: string;
}

/** The answer for one record of a push. */
export interface CrmPushRecordResult {
  contactNumber: string;
  ok: boolean;
  reason?: string;
}

interface CrmStats {
  /**
   * Signature-valid pushes answered 200, duplicates included (a duplicate is also counted in
   * `duplicatePushes`); refused pushes (401, 400, 413, injected faults) are not counted.
   */
  pushes: number;
  /** The largest number of records in one counted push. */
  maxContactsPerPush: number;
  badSignatures: number;
  duplicatePushes: number;
  /** Changes delivered to `changeWebhook` (answered 2xx). */
  changesNotified: number;
  /** Changes `changeWebhook` refused with a 4xx other than 408/429 (not retried). */
  changesRefused: number;
}

const fieldValueSchema = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const recordSchema = z.object({
  contactNumber: z.string().min(1),
  crmId: z.string().min(1).optional(),
  entity: z.enum(['person', 'account', 'relay']),
  object: z.string().optional(),
  action: z.enum(['upsert', 'deactivate', 'delete']).optional(),
  accountContactNumber: z.string().optional(),
  fields: z.record(z.string(), fieldValueSchema),
  sourceModifiedAt: z.string(),
});
const pushSchema = z.object({
  type: z.literal(contactUpsertEventType),
  data: z.object({ records: z.array(recordSchema) }),
});
const patchSchema = z.object({ fields: z.record(z.string(), fieldValueSchema) });
const newRecordSchema = z.object({
  entity: z.enum(['person', 'account', 'relay']),
  fields: z.record(z.string(), fieldValueSchema),
});

/** Where a record created by a CRM user is kept until crm-sync pushes it back with its contact number. */
const unlinkedKey = (crmId: string): string => `crm:${crmId}`;

/** A pragmatic e-mail check: one `@`, no spaces, a dot in the domain. */
const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * Starts a simulator of a generic CRM reached by signed webhooks (the target of {@link WebhookCrmAdapter}): it
 * verifies Standard Webhooks signatures, recognises a retried `webhook-id`, upserts records by contact number,
 * refuses one by one the records with an invalid e-mail and the relays whose account it does not hold (like a
 * lookup field), and shows what it stored and counted under `/__sandbox/`. Edits and deletions of records under
 * `/__sandbox/records/` stand for a CRM user's changes: they are listed by `GET /changes` and, with
 * `changeWebhook`, POSTed as signed change events, like a CRM's outbound webhooks. `POST /__sandbox/records`
 * `{entity, fields}` creates a record as a CRM user would: it gets a `crmId`, is kept under `crm:<crmId>` (its
 * `contactNumber` until linked) and is announced without a contact number; a push of a record carrying that
 * `crmId` moves it under its contact number. `GET /query?q=<filter>&after=<n>&limit=<n>` searches the active records
 * (`src/sandbox/record-query.ts`), as a CRM's query API: `{records: [{contactNumber?, crmId?, entity, fields}],
 * nextAfter}`, `nextAfter` null on the last page.
 */
export async function startCrmSandbox(options: CrmSandboxOptions): Promise<CrmSandbox> {
  const toleranceSeconds = options.toleranceSeconds ?? 300;
  const maxRecordsPerPush = options.maxRecordsPerPush ?? 50;
  const webhook = options.signingSecret ? new Webhook(options.signingSecret) : undefined;
  const records = new Map<string, CrmSandboxRecord>();
  /** The results of every push applied, by webhook-id. */
  const seenPushes = new Map<string, CrmPushRecordResult[]>();
  const faults = new FaultState();
  const stats: CrmStats = {
    pushes: 0,
    maxContactsPerPush: 0,
    badSignatures: 0,
    duplicatePushes: 0,
    changesNotified: 0,
    changesRefused: 0,
  };
  /**
   * Changes made by CRM users (the `/__sandbox/records` edits). Pushes on `/hooks/contacts` are crm-sync's own
   * writes: a CRM integration filters its integration user's writes out, so they are not changes.
   */
  const changes: CrmSandboxChange[] = [];
  const changeWebhook = options.changeWebhook;
  const changeSigner = changeWebhook ? new Webhook(changeWebhook.signingSecret) : undefined;
  const notifier =
    changeWebhook && changeSigner
      ? new ChangeNotifier<CrmSandboxChange>({
          url: changeWebhook.url,
          batchSize: 1,
          changes,
          request: (batch) => {
            // batchSize 1: one event per POST.
            const change = batch[0] as CrmSandboxChange;
            const body = JSON.stringify(change.event);
            const timestamp = new Date();
            return {
              body,
              headers: {
                'webhook-id': change.webhookId,
                'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
                'webhook-signature': changeSigner.sign(change.webhookId, timestamp, body),
              },
            };
          },
          onDelivered: (count) => (stats.changesNotified += count),
          onFailed: () => undefined,
          onRefused: (count) => (stats.changesRefused += count),
          owner: 'the CRM sandbox',
        })
      : undefined;

  function recordChange(event: CrmChangeEvent): void {
    changes.push({ seq: changes.length + 1, webhookId: `msg_${randomUUID()}`, event });
    notifier?.notify();
  }

  /** Verifies the signature and timestamp; refusals are 401 and counted. */
  function verify(req: IncomingMessage, raw: string): string {
    const headers: Record<string, string> = {};
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const value = req.headers[name];
      const text = Array.isArray(value) ? value[0] : value;
      if (!text) {
        stats.badSignatures += 1;
        throw new HttpError(401, `missing ${name} header`);
      }
      headers[name] = text;
    }
    try {
      if (!webhook) throw new Error('no signing secret is configured');
      const timestamp = Number(headers['webhook-timestamp']);
      if (!Number.isInteger(timestamp)) throw new Error('invalid webhook-timestamp');
      if (Math.abs(Date.now() / 1000 - timestamp) > toleranceSeconds) {
        throw new Error(`webhook-timestamp outside the ${toleranceSeconds} s tolerance`);
      }
      webhook.verify(raw, headers, { jsonParse: false });
    } catch (err) {
      stats.badSignatures += 1;
      throw new HttpError(401, `signature refused: ${(err as Error).message}`);
    }
    return headers['webhook-id'] as string;
  }

  function apply(record: CrmContactRecord, webhookId: string, now: string): CrmPushRecordResult {
    if (record.action === 'delete') {
      records.delete(record.contactNumber);
      return { contactNumber: record.contactNumber, ok: true };
    }
    const email = record.fields.Email;
    if (typeof email === 'string' && email !== '' && !emailPattern.test(email)) {
      return {
        contactNumber: record.contactNumber,
        ok: false,
        reason: `Email: "${email}" is not an e-mail address`,
      };
    }
    if (
      record.entity === 'relay' &&
      record.accountContactNumber !== undefined &&
      records.get(record.accountContactNumber)?.entity !== 'account'
    ) {
      // Like a CRM lookup field (Salesforce Contact.AccountId): the account must exist first.
      return {
        contactNumber: record.contactNumber,
        ok: false,
        reason: `accountContactNumber: no account ${record.accountContactNumber} to link the relay to`,
      };
    }
    // A record created by a CRM user, pushed back with its contact number: the same record, keyed by it now.
    const unlinked = record.crmId !== undefined ? records.get(unlinkedKey(record.crmId)) : undefined;
    if (unlinked && record.crmId !== undefined) records.delete(unlinkedKey(record.crmId));
    const existing = records.get(record.contactNumber) ?? unlinked;
    const { accountContactNumber, action: _action, ...rest } = record;
    records.set(record.contactNumber, {
      ...rest,
      ...(accountContactNumber !== undefined ? { accountContactNumber } : {}),
      fields: { ...existing?.fields, ...record.fields },
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
      timesApplied: (existing?.timesApplied ?? 0) + 1,
      active: record.action !== 'deactivate',
      lastWebhookId: webhookId,
    });
    return { contactNumber: record.contactNumber, ok: true };
  }

  const sortedRecords = (): CrmSandboxRecord[] =>
    [...records.values()].sort(
      (a, b) =>
        a.contactNumber.length - b.contactNumber.length || a.contactNumber.localeCompare(b.contactNumber),
    );

  const recordPath = /^\/__sandbox\/records\/([^/]+)$/;
  let crmIds = 0;
  /** How a change event names a record: its contact number once linked, its crmId when it has one. */
  const linkOf = (record: CrmSandboxRecord): { contactNumber?: string; crmId?: string } => ({
    ...(record.crmId === undefined || record.contactNumber !== unlinkedKey(record.crmId)
      ? { contactNumber: record.contactNumber }
      : {}),
    ...(record.crmId !== undefined ? { crmId: record.crmId } : {}),
  });
  const findRecord = (contactNumber: string): CrmSandboxRecord => {
    const record = records.get(contactNumber);
    if (!record) throw new HttpError(404, `no record ${contactNumber}`);
    return record;
  };

  const routes: Route[] = [
    {
      method: 'POST',
      path: /^\/hooks\/contacts$/,
      handle: async ({ req, res }) => {
        const raw = await readRawBody(req);
        await faults.apply();
        const webhookId = verify(req, raw);
        const previous = seenPushes.get(webhookId);
        if (previous) {
          stats.pushes += 1;
          stats.duplicatePushes += 1;
          sendJson(res, 200, { duplicate: true, results: previous });
          return;
        }
        const body = parseJson(raw);
        const candidate = isRecord(body) && isRecord(body.data) ? body.data.records : undefined;
        if (Array.isArray(candidate) && candidate.length > maxRecordsPerPush) {
          throw new HttpError(
            413,
            `data.records: ${candidate.length} records, at most ${maxRecordsPerPush} per push`,
          );
        }
        const push = validateOr400(pushSchema, body, 'invalid push');
        const now = new Date().toISOString();
        const results = push.data.records.map((record) =>
          apply(
            {
              contactNumber: record.contactNumber,
              ...(record.crmId !== undefined ? { crmId: record.crmId } : {}),
              entity: record.entity,
              ...(record.accountContactNumber !== undefined
                ? { accountContactNumber: record.accountContactNumber }
                : {}),
              ...(record.object !== undefined ? { object: record.object } : {}),
              ...(record.action !== undefined ? { action: record.action } : {}),
              fields: record.fields,
              sourceModifiedAt: record.sourceModifiedAt,
            },
            webhookId,
            now,
          ),
        );
        seenPushes.set(webhookId, results);
        stats.pushes += 1;
        stats.maxContactsPerPush = Math.max(stats.maxContactsPerPush, push.data.records.length);
        sendJson(res, 200, { duplicate: false, results });
      },
    },
    {
      method: 'GET',
      path: /^\/api\/contacts\/([^/]+)$/,
      handle: ({ res, params }) => sendJson(res, 200, findRecord(params[0] ?? '')),
    },
    {
      method: 'GET',
      path: /^\/api\/contacts$/,
      handle: ({ res, url }) => {
        const limit = intParam(url, 'limit', 100, 1000);
        const offset = intParam(url, 'offset', 0);
        const all = sortedRecords();
        sendJson(res, 200, { records: all.slice(offset, offset + limit), total: all.length, limit, offset });
      },
    },
    {
      method: 'GET',
      path: /^\/__sandbox\/records$/,
      handle: ({ res }) => sendJson(res, 200, { records: sortedRecords() }),
    },
    {
      method: 'POST',
      path: /^\/__sandbox\/records$/,
      handle: async ({ req, res }) => {
        const input = validateOr400(newRecordSchema, await readJsonBody(req), 'invalid record');
        crmIds += 1;
        const crmId = `crm-${String(crmIds).padStart(6, '0')}`;
        const now = new Date().toISOString();
        const record: CrmSandboxRecord = {
          contactNumber: unlinkedKey(crmId),
          crmId,
          entity: input.entity,
          fields: { ...input.fields },
          sourceModifiedAt: now,
          createdAt: now,
          updatedAt: now,
          timesApplied: 0,
          active: true,
          lastWebhookId: '',
        };
        records.set(record.contactNumber, record);
        recordChange({
          type: 'contact.changed',
          data: {
            record: { crmId, entity: record.entity, fields: { ...record.fields }, modifiedAt: now },
          },
        });
        sendJson(res, 201, record);
      },
    },
    {
      method: 'GET',
      path: recordPath,
      handle: ({ res, params }) => sendJson(res, 200, findRecord(params[0] ?? '')),
    },
    {
      method: 'PATCH',
      path: recordPath,
      handle: async ({ req, res, params }) => {
        const body = await readJsonBody(req);
        const record = findRecord(params[0] ?? '');
        const patch = validateOr400(patchSchema, body, 'invalid patch');
        const updated: CrmSandboxRecord = {
          ...record,
          fields: { ...record.fields, ...patch.fields },
          updatedAt: new Date().toISOString(),
        };
        records.set(updated.contactNumber, updated);
        recordChange({
          type: 'contact.changed',
          data: {
            record: {
              ...linkOf(updated),
              entity: updated.entity,
              fields: { ...updated.fields },
              modifiedAt: updated.updatedAt,
            },
          },
        });
        sendJson(res, 200, updated);
      },
    },
    {
      method: 'DELETE',
      path: recordPath,
      handle: ({ res, params }) => {
        const record = findRecord(params[0] ?? '');
        records.delete(record.contactNumber);
        // A record crm-sync never linked has no contact number to announce.
        if (linkOf(record).contactNumber === undefined) {
          sendJson(res, 200, { deleted: record.contactNumber });
          return;
        }
        recordChange({
          type: 'contact.deleted',
          data: {
            contactNumber: record.contactNumber,
            entity: record.entity,
            deletedAt: new Date().toISOString(),
          },
        });
        sendJson(res, 200, { deleted: record.contactNumber });
      },
    },
    {
      method: 'GET',
      path: /^\/changes$/,
      handle: ({ req, res, url }) => {
        if (options.apiToken !== undefined && req.headers.authorization !== `Bearer ${options.apiToken}`) {
          throw new HttpError(401, 'missing or wrong bearer token', {}, { 'www-authenticate': 'Bearer' });
        }
        const after = intParam(url, 'after', 0);
        const limit = Math.max(1, intParam(url, 'limit', 100, 1000));
        // Seqs are 1-based and contiguous: the change after `after` sits at index `after`.
        const page = changes.slice(after, after + limit).map(({ seq, event }) => ({ seq, event }));
        sendJson(res, 200, { changes: page, nextAfter: page.at(-1)?.seq ?? after });
      },
    },
    {
      method: 'GET',
      path: /^\/query$/,
      handle: ({ req, res, url }) => {
        if (options.apiToken !== undefined && req.headers.authorization !== `Bearer ${options.apiToken}`) {
          throw new HttpError(401, 'missing or wrong bearer token', {}, { 'www-authenticate': 'Bearer' });
        }
        let conditions: QueryCondition[];
        try {
          conditions = parseRecordQuery(url.searchParams.get('q') ?? '');
        } catch (err) {
          if (err instanceof RecordQueryError) throw new HttpError(400, err.message);
          throw err;
        }
        const after = intParam(url, 'after', 0);
        const limit = Math.max(1, intParam(url, 'limit', 200, 1000));
        // Records in key order, so that `after` (a position among the matches) pages through the same list.
        const matching = [...records.entries()]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([, record]) => record)
          .filter((record) => record.active && matchesRecordQuery(conditions, record));
        const page = matching.slice(after, after + limit).map((record) => ({
          ...linkOf(record),
          entity: record.entity,
          fields: { ...record.fields },
        }));
        sendJson(res, 200, {
          records: page,
          nextAfter: after + limit < matching.length ? after + limit : null,
        });
      },
    },
    {
      method: 'POST',
      path: /^\/__sandbox\/faults$/,
      handle: async ({ req, res }) => sendJson(res, 200, { faults: faults.set(await readJsonBody(req)) }),
    },
    {
      method: 'DELETE',
      path: /^\/__sandbox\/faults$/,
      handle: ({ res }) => {
        faults.clear();
        sendJson(res, 200, { faults: {} });
      },
    },
    {
      method: 'GET',
      path: /^\/__sandbox\/stats$/,
      handle: ({ res }) => sendJson(res, 200, { ...stats, records: records.size }),
    },
    {
      method: 'POST',
      path: /^\/__sandbox\/stats\/reset$/,
      handle: ({ res }) => {
        Object.assign(stats, {
          pushes: 0,
          maxContactsPerPush: 0,
          badSignatures: 0,
          duplicatePushes: 0,
          changesNotified: 0,
          changesRefused: 0,
        });
        sendJson(res, 200, { ...stats, records: records.size });
      },
    },
  ];

  const listening = await listenLocal(createRouter(routes), options.port ?? 0);
  return {
    url: listening.url,
    port: listening.port,
    changesIdle: () => notifier?.idle() ?? Promise.resolve(),
    close: async () => {
      notifier?.close();
      await listening.close();
    },
  };
}
