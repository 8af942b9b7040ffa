import type { Got } from 'got';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import { PermanentError } from '../http/errors';
import { createHttpClient, toAdapterError } from '../http/http-client';
import type { CrmAdapter, CrmChangesPage, CrmListChangesInput, CrmPush, CrmPushResult } from './crm-adapter';
import { crmChangeEventSchema } from './crm-change-event';

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
  /** The CRM's change list, for polling; without it the adapter has no `listChanges`. */
  changes?: WebhookChangeListOptions;
}

export interface WebhookChangeListOptions {
  /** Absolute URL of `GET ?after=<cursor>&limit=<n>` -> `{changes: [{seq, event}], nextAfter}`. */
  url: string;
  /** Sent as `Authorization: Bearer <apiToken>` when set. */
  apiToken?: string;
  /** Default 100. */
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
 * every record was accepted. With `changes` configured, its change list can be polled too ({@link listChanges}).
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
  }

  /** One page of the change list, validated: a malformed answer is a {@link PermanentError} naming the field. */
  private async fetchChanges(
    changes: WebhookChangeListOptions,
    input: CrmListChangesInput,
    options: { signal?: AbortSignal } = {},
  ): Promise<CrmChangesPage> {
    const url = new URL(changes.url);
    if (input.after !== undefined) url.searchParams.set('after', input.after);
    url.searchParams.set('limit', String(input.limit));
    const operation = `GET ${url.pathname}`;
    let body: unknown;
    try {
      const response = await this.http.get(url, {
        responseType: 'json',
        ...(changes.apiToken !== undefined
          ? { headers: { authorization: `Bearer ${changes.apiToken}` } }
          : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      body = response.body;
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason ?? err;
      throw toAdapterError(err, {
        system: this.system,
        operation: `${operation} (after ${input.after ?? 'the start'})`,
        throttleOn5xxWithRetryAfter: true,
      });
    }
    const parsed = changesPageSchema.safeParse(body);
    if (!parsed.success) {
      const problems = parsed.error.issues
        .slice(0, 3)
        .map((issue) => `${issuePath(issue.path)}: ${issue.message}`)
        .join('; ');
      throw new PermanentError(`${this.system} ${operation}: malformed change list (${problems})`, {
        system: this.system,
        code: 'INVALID_RESPONSE',
        cause: parsed.error,
      });
    }
    return {
      changes: parsed.data.changes.map((entry) => entry.event),
      next: String(parsed.data.nextAfter),
    };
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
