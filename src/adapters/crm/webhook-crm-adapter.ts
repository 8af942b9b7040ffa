import type { Got } from 'got';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import { createHttpClient, toAdapterError } from '../http/http-client';
import type { CrmAdapter, CrmPush, CrmPushResult } from './crm-adapter';

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
}

/** The event type of a contact push. */
export const contactUpsertEventType = 'contact.upsert';

const pushResponseSchema = z.object({
  duplicate: z.boolean().default(false),
  results: z
    .array(z.object({ contactNumber: z.string(), ok: z.boolean(), reason: z.string().nullish() }))
    .optional(),
});

/**
 * A generic CRM reached by a signed webhook: each push is one POST of `{type: 'contact.upsert', data: {records}}`
 * signed per Standard Webhooks, with the push ID as `webhook-id` so that the receiver recognises a retry. The
 * receiver answers 2xx with `{duplicate, results: [{contactNumber, ok, reason?}]}`; a 2xx without such a body means
 * every record was accepted.
 */
export class WebhookCrmAdapter implements CrmAdapter {
  readonly target: string;
  private readonly http: Got;
  private readonly webhook: Webhook;
  private readonly url: string;
  private readonly operation: string;
  private readonly system: string;
  private readonly now: () => Date;

  constructor(options: WebhookCrmAdapterOptions) {
    this.target = options.target;
    this.url = options.url;
    this.system = `CRM ${options.target}`;
    this.operation = `POST ${new URL(options.url).pathname}`;
    this.webhook = new Webhook(options.signingSecret);
    this.http = createHttpClient({ system: this.system, timeoutMs: options.timeoutMs ?? 30_000 });
    this.now = options.now ?? (() => new Date());
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
