import type { Got } from 'got';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import { PermanentError } from '../http/errors';
import { createHttpClient, toAdapterError } from '../http/http-client';
import type {
  CrmAdapter,
  CrmChangesPage,
  CrmListChangesInput,
  CrmPush,
  CrmPushResult,
  CrmQueryInput,
  CrmQueryPage,
} from './crm-adapter';
import { contactNumberSchema } from '../s360/s360-contact';
import { crmChangeEventSchema, crmFieldValueSchema } from './crm-change-event';

export interface WebhookCrmAdapterOptions {
  /** The target name (configuration, workflow ID). */
  target: string;
  /** Where pushes are POSTed. */
  url: string;
  /** Standard Webhooks secret: `whsec_` then base64. */
  signingSecret: string;
  /** Per push; default 30 s. */
  timeoutMs?: number;
  /** Wall clock for `webhook-timestamp`; tests pass a fake one. */
  now?: () => Date;
  /**
   * The CRM's change list, for polling (`GET ?after=<cursor>&limit=<n>` -> `{changes: [{seq, event}], nextAfter}`;
   * 100 per page by default); without it the adapter has no `listChanges`.
   */
  changes?: WebhookApiEndpoint;
  /**
   * The CRM's record search (`GET ?q=<query>&after=<cursor>&limit=<n>` -> `{records: [{contactNumber?, crmId?,
   * entity, fields}], nextAfter}`, `nextAfter` null on the last page; 200 per page by default); without it the
   * adapter has no `queryRecords`.
   */
  query?: WebhookApiEndpoint;
}

/** An endpoint of the CRM's own API that the adapter pages through. */
export interface WebhookApiEndpoint {
  /** Its absolute URL. */
  url: string;
  /** Sent as `Authorization: Bearer <apiToken>` when set. */
  apiToken?: string;
  /** Items asked for per request. */
  pageSize?: number;
}

/** The event type of a contact push. */
export const contactUpsertEventType = 'contact.upsert';

const pushResponseSchema = z.object({
  duplicate: z.boolean().default(false),
  results: z
    .array(z.object({ contactNumber: z.string(), ok: z.boolean(), reason: z.string().nullish() }))
    .optional(),
});

const queryPageSchema = z.object({
  records: z.array(
    z
      .object({
        contactNumber: contactNumberSchema.optional(),
        crmId: z.string().min(1).optional(),
        entity: z.enum(['person', 'account', 'relay']),
        fields: z.record(z.string(), crmFieldValueSchema),
      })
      .refine((record) => record.contactNumber !== undefined || record.crmId !== undefined, {
        path: ['contactNumber'],
        message: 'expected a contactNumber, or a crmId',
      }),
  ),
  nextAfter: z.union([z.number().int().min(0), z.string().min(1), z.null()]),
});

const changesPageSchema = z.object({
  changes: z.array(
    z.object({ seq: z.union([z.number(), z.string()]).optional(), event: crmChangeEventSchema }),
  ),
  nextAfter: z.union([z.number().int().min(0), z.string().min(1)]),
});

/**
 * A generic CRM reached by a signed webhook: each push is one POST of `{type: 'contact.upsert', data: {records}}`
 * signed per Standard Webhooks, with the push ID as `webhook-id` so that the receiver recognises a retry. The
 * receiver answers 2xx with `{duplicate, results: [{contactNumber, ok, reason?}]}`; a 2xx without such a body means
 * every record was accepted. With `changes` configured, its change list can be polled too ({@link listChanges}); with
 * `query`, its records searched ({@link queryRecords}).
 */
export class WebhookCrmAdapter implements CrmAdapter {
  readonly target: string;
  private readonly http: Got;
  private readonly webhook: Webhook;
  private readonly url: string;
  private readonly operation: string;
  private readonly system: string;
  private readonly now: () => Date;
  /** Present only when the target configures its change list. */
  readonly listChanges?: (
    input: CrmListChangesInput,
    options?: { signal?: AbortSignal },
  ) => Promise<CrmChangesPage>;
  readonly changesPageSize?: number;
  /** Present only when the target configures its record search. */
  readonly queryRecords?: (input: CrmQueryInput, options?: { signal?: AbortSignal }) => Promise<CrmQueryPage>;
  readonly queryPageSize?: number;

  constructor(options: WebhookCrmAdapterOptions) {
    this.target = options.target;
    this.url = options.url;
    this.system = `CRM ${options.target}`;
    this.operation = `POST ${new URL(options.url).pathname}`;
    this.webhook = new Webhook(options.signingSecret);
    this.http = createHttpClient({ system: this.system, timeoutMs: options.timeoutMs ?? 30_000 });
    this.now = options.now ?? (() => new Date());
    const changes = options.changes;
    if (changes) {
      this.changesPageSize = changes.pageSize ?? 100;
      this.listChanges = (input, listOptions) => this.fetchChanges(changes, input, listOptions);
    }
    const query = options.query;
    if (query) {
      this.queryPageSize = query.pageSize ?? 200;
      this.queryRecords = (input, queryOptions) => this.fetchQueryPage(query, input, queryOptions);
    }
  }

  /** One page of a record search, validated: a malformed answer is a {@link PermanentError} naming the field. */
  private async fetchQueryPage(
    query: WebhookApiEndpoint,
    input: CrmQueryInput,
    options: { signal?: AbortSignal } = {},
  ): Promise<CrmQueryPage> {
    const page = await this.getPage(query, { q: input.query }, input, {
      schema: queryPageSchema,
      what: 'record search',
      signal: options.signal,
    });
    return {
      records: page.records.map((record) => ({
        ...(record.contactNumber !== undefined ? { contactNumber: record.contactNumber } : {}),
        ...(record.crmId !== undefined ? { crmId: record.crmId } : {}),
        entity: record.entity,
        fields: record.fields,
      })),
      next: page.nextAfter === null ? null : String(page.nextAfter),
    };
  }

  /**
   * GETs a page from one of the CRM's API endpoints (`?<params>&after=<cursor>&limit=<n>`) and validates it:
   * transport errors are translated (throttling, transient, permanent), and an answer not of `schema`'s shape is a
   * {@link PermanentError} naming the first fields at fault.
   */
  private async getPage<T>(
    endpoint: WebhookApiEndpoint,
    params: Record<string, string>,
    position: { after?: string; limit: number },
    request: {
      schema: z.ZodType<T>;
      /** What the answer is, for error messages: "change list", "record search". */
      what: string;
      signal: AbortSignal | undefined;
    },
  ): Promise<T> {
    const url = new URL(endpoint.url);
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    if (position.after !== undefined) url.searchParams.set('after', position.after);
    url.searchParams.set('limit', String(position.limit));
    const operation = `GET ${url.pathname}`;
    let body: unknown;
    try {
      const response = await this.http.get(url, {
        responseType: 'json',
        ...(endpoint.apiToken !== undefined
          ? { headers: { authorization: `Bearer ${endpoint.apiToken}` } }
          : {}),
        ...(request.signal ? { signal: request.signal } : {}),
      });
      body = response.body;
    } catch (err) {
      if (request.signal?.aborted) throw request.signal.reason ?? err;
      throw toAdapterError(err, {
        system: this.system,
        operation: `${operation} (after ${position.after ?? 'the start'})`,
        throttleOn5xxWithRetryAfter: true,
      });
    }
    const parsed = request.schema.safeParse(body);
    if (!parsed.success) {
      const problems = parsed.error.issues
        .slice(0, 3)
        .map((issue) => `${issuePath(issue.path)}: ${issue.message}`)
        .join('; ');
      throw new PermanentError(`${this.system} ${operation}: malformed ${request.what} (${problems})`, {
        system: this.system,
        code: 'INVALID_RESPONSE',
        cause: parsed.error,
      });
    }
    return parsed.data;
  }

  /** One page of the change list, validated: a malformed answer is a {@link PermanentError} naming the field. */
  private async fetchChanges(
    changes: WebhookApiEndpoint,
    input: CrmListChangesInput,
    options: { signal?: AbortSignal } = {},
  ): Promise<CrmChangesPage> {
    const page = await this.getPage(changes, {}, input, {
      schema: changesPageSchema,
      what: 'change list',
      signal: options.signal,
    });
    return { changes: page.changes.map((entry) => entry.event), next: String(page.nextAfter) };
  }

  async pushContacts(push: CrmPush, options: { signal?: AbortSignal } = {}): Promise<CrmPushResult> {
    const body = JSON.stringify({ type: contactUpsertEventType, data: { records: push.records } });
    const timestamp = this.now();
    const headers = {
      'content-type': 'application/json',
      'webhook-id': push.pushId,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': this.webhook.sign(push.pushId, timestamp, body),
    };
    let responseBody: string;
    try {
      const response = await this.http.post(this.url, {
        body,
        headers,
        responseType: 'text',
        ...(options.signal ? { signal: options.signal } : {}),
      });
      responseBody = response.body;
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason ?? err;
      throw toAdapterError(err, {
        system: this.system,
        operation: `${this.operation} (push ${push.pushId})`,
        throttleOn5xxWithRetryAfter: true,
      });
    }
    return parsePushResponse(responseBody);
  }
}

/** Reads a 2xx answer; a body that is absent or not the documented shape means "all accepted". */
function parsePushResponse(body: string): CrmPushResult {
  let json: unknown;
  try {
    json = body.trim() === '' ? undefined : JSON.parse(body);
  } catch {
    return { duplicate: false };
  }
  const parsed = pushResponseSchema.safeParse(json);
  if (!parsed.success) return { duplicate: false };
  const { duplicate, results } = parsed.data;
  if (!results) return { duplicate };
  return {
    duplicate,
    records: results.map(({ contactNumber, ok, reason }) => ({
      contactNumber,
      ok,
      ...(reason ? { reason } : {}),
    })),
  };
}

/** `changes[0].event.type`; `(body)` for the answer itself. */
function issuePath(path: ReadonlyArray<PropertyKey>): string {
  const text = path
    .map((key, index) => (typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`))
    .join('');
  return text === '' ? '(body)' : text;
}
