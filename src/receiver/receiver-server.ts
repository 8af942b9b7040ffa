import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import { crmChangeEventSchema, toInboundChange } from '../adapters/crm/crm-change-event';
import { contactNumberSchema } from '../adapters/s360/s360-contact';
import type { SyncDirection, SyncStore } from '../store/sync-store';

/** Options of {@link startReceiver}. */
export interface ReceiverOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Port to listen on; `0` lets the OS choose (read it back from {@link Receiver.port}). */
  port: number;
  store: SyncStore;
  /** The CRM targets every S-360 change fans out to. At least one. */
  targets: string[];
  /** When set, notifications must carry `Authorization: Bearer <token>` or `?token=<token>`. */
  s360Token?: string;
  /**
   * Target name -> Standard Webhooks secret (`whsec_` then base64) that the CRM signs its change events with. A
   * target without a secret receives no CRM changes (404). Default `{}`.
   */
  crmSigningSecrets?: Record<string, string>;
  /** When set, the admin API (`/api/...`) requires `Authorization: Bearer <token>`. */
  adminToken?: string;
  /** The largest request body accepted, in bytes; larger ones get 413. Default 5 MiB. */
  maxBodyBytes?: number;
  /** Told about failures answered with 5xx (the store unavailable, a bug). Default: `console.error`. */
  onError?: (error: unknown, request: { method: string; path: string }) => void;
}

/** A running receiver. */
export interface Receiver {
  /** Base URL for clients, e.g. `http://127.0.0.1:8090` (a wildcard host is given as the loopback address). */
  url: string;
  port: number;
  /** Stops accepting connections and resolves once the requests in progress have been answered. */
  close(): Promise<void>;
}

/** Default of {@link ReceiverOptions.maxBodyBytes}. */
export const DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024;

/** How long `close()` lets requests in progress finish before it cuts their connections. */
const CLOSE_GRACE_MS = 5_000;

/** One contact of an S-360 change notification. Unknown fields are ignored. */
const notifiedContactSchema = z.object({
  contactNumber: contactNumberSchema,
  changeType: z.string().nullish(),
  modifiedAt: z.string().nullish(),
});

/** What S-360's contact webhook (and the S-360 sandbox) posts: a batch of changed contacts. */
const notificationBatchSchema = z.object({ contacts: z.array(notifiedContactSchema) });

const directionSchema = z.enum(['outbound', 'inbound']);

const parkedQuerySchema = z.strictObject({
  target: z.string().min(1).optional(),
  direction: directionSchema.optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(100),
});

const retryBodySchema = z.strictObject({
  target: z.string().min(1),
  direction: directionSchema.default('outbound'),
  /** Absent: every parked record of the target. */
  contactNumbers: z
    .array(contactNumberSchema)
    .min(1, 'expected at least one contact number; leave the field out to retry every parked record')
    .optional(),
});

const outboxQuerySchema = z.strictObject({
  target: z.string().min(1),
  direction: directionSchema.default('outbound'),
});

const conflictsQuerySchema = z.strictObject({
  target: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(100),
});

const massUpdateParkedQuerySchema = z.strictObject({
  fromLine: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(10_000).default(1_000),
});

/** `/api/mass-updates/<updateId>/parked`. */
const MASS_UPDATE_PARKED_PATH = /^\/api\/mass-updates\/([^/]+)\/parked$/;

/** The most contacts one `POST /api/outbox/enqueue` takes. */
const MAX_ENQUEUE_CONTACTS = 500;

const enqueueBodySchema = z.strictObject({
  target: z.string().min(1),
  direction: directionSchema.default('outbound'),
  contactNumbers: z
    .array(contactNumberSchema)
    .min(1, 'expected at least one contact number')
    .max(MAX_ENQUEUE_CONTACTS, `expected at most ${MAX_ENQUEUE_CONTACTS} contact numbers`),
});

/** Where CRMs post their change events: `/notifications/crm/<target>`. */
const CRM_NOTIFICATIONS_PREFIX = '/notifications/crm/';

/** One problem with a request, `path` naming the field, e.g. `contacts[3].contactNumber`. */
export interface RequestIssue {
  path: string;
  message: string;
}

/** An answer decided before the handler's end: thrown by helpers, written by the request loop. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly issues?: RequestIssue[],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/**
 * Starts the HTTP endpoint that S-360 and CRM change notifications are posted to, with the small admin API the CLI
 * uses (the embedded store belongs to this process, so other processes go through here).
 *
 * - `POST /notifications/s360` `{contacts:[{contactNumber, changeType?, modifiedAt?}, ...]}` or one
 *   `{contactNumber}`: queued in the outbox for every target, durably, before `200 {accepted}` (distinct
 *   contacts). Malformed: 400 naming the fields, nothing stored. Store unavailable: 503, so that the sender
 *   retries.
 * - `POST /notifications/crm/<target>` a Standard Webhooks signed `contact.changed` / `contact.deleted` event
 *   (see `crmChangeEventSchema`): stored as the record's latest change and the contact queued inbound for that
 *   target, durably, before `200 {accepted:1}`. Unknown target or none with a signing secret: 404. Missing or bad
 *   signature, or a timestamp off by more than 5 minutes: 401. Malformed: 400 naming the fields. In every refusal
 *   nothing is stored. Store unavailable: 503.
 * - `GET /healthz`: `200 {ok:true}`.
 * - `GET /api/parked?target=&direction=&limit=`: `{parked:[...]}`, newest first.
 * - `POST /api/parked/retry` `{target, direction?, contactNumbers?}`: `{requeued}`.
 * - `GET /api/outbox?target=&direction=`: `{direction, target, pending, claimed, parked}`.
 * - `POST /api/outbox/enqueue` `{target, direction? (default outbound), contactNumbers:[1..500]}`: the contacts
 *   queued for that target, durably, before `{queued}` (distinct contacts). Unknown target: 404 naming the
 *   configured ones. Malformed: 400 naming the fields.
 * - `GET /api/conflicts?target=&limit=` (limit 1..10000, default 100): `{conflicts:[...]}`, newest first.
 * - `GET /api/mass-updates/<updateId>/parked?fromLine=&limit=` (limit 1..10000, default 1000): the rows of a mass
 *   update parked with their line, contact, reason and update, by line, from `fromLine` on, with the counts
 *   `{updateId, parked, retryable, rows:[...]}` (`retryable`: rows with an update; the others need the file fixed).
 */
export async function startReceiver(options: ReceiverOptions): Promise<Receiver> {
  const targets = [...new Set(options.targets)];
  if (targets.length === 0) throw new Error('startReceiver: expected at least one CRM target');
  const host = options.host ?? '127.0.0.1';
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const onError =
    options.onError ??
    ((error: unknown, request: { method: string; path: string }) =>
      console.error(`receiver: ${request.method} ${request.path} failed:`, error));
  const { store } = options;
  const crmWebhooks = new Map<string, Webhook>();
  for (const [target, secret] of Object.entries(options.crmSigningSecrets ?? {})) {
    if (!targets.includes(target) || secret === '') continue;
    try {
      crmWebhooks.set(target, new Webhook(secret));
    } catch (err) {
      throw new Error(
        `startReceiver: the CRM signing secret of target "${target}" is not a Standard Webhooks secret ` +
          `(whsec_ then base64): ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  /** Fails with 503 (the sender retries) when the store cannot take the change. */
  async function storeOr503(method: string, path: string, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (err) {
      onError(err, { method, path });
      throw new HttpError(503, 'the sync store is unavailable; retry later', undefined, {
        'retry-after': '10',
      });
    }
  }

  async function receiveCrmChange(
    req: IncomingMessage,
    method: string,
    url: URL,
  ): Promise<{ status: number; body: unknown }> {
    const target = decodePathSegment(url.pathname.slice(CRM_NOTIFICATIONS_PREFIX.length));
    if (!targets.includes(target)) {
      throw new HttpError(404, `no CRM target "${target}" is configured to send changes here`);
    }
    const webhook = crmWebhooks.get(target);
    if (!webhook) {
      throw new HttpError(
        404,
        `CRM target "${target}" has no signing secret configured, so its changes are not received`,
      );
    }
    allow(method, ['POST']);
    const raw = await readText(req, maxBodyBytes);
    verifySignature(webhook, req, raw);
    const event = validate(crmChangeEventSchema, parseJson(raw), 'invalid CRM change event');
    const change = toInboundChange(target, event);
    await storeOr503(method, url.pathname, () => store.recordInboundChange(change));
    return { status: 200, body: { accepted: 1 } };
  }

  async function route(req: IncomingMessage, url: URL): Promise<{ status: number; body: unknown }> {
    const method = req.method ?? 'GET';
    switch (url.pathname) {
      case '/healthz':
        allow(method, ['GET', 'HEAD']);
        return { status: 200, body: { ok: true } };

      case '/notifications/s360': {
        allow(method, ['POST']);
        requireToken(options.s360Token, req, url.searchParams.get('token'));
        const body = await readJson(req, maxBodyBytes);
        const contacts =
          isRecord(body) && !('contacts' in body) && 'contactNumber' in body
            ? [validate(notifiedContactSchema, body, 'invalid notification')]
            : validate(notificationBatchSchema, body, 'invalid notification').contacts;
        const contactNumbers = [...new Set(contacts.map((contact) => contact.contactNumber))];
        if (contactNumbers.length > 0) {
          await storeOr503(method, url.pathname, () =>
            store.enqueue({ direction: 'outbound', targets, contactNumbers }),
          );
        }
        return { status: 200, body: { accepted: contactNumbers.length } };
      }

      case '/api/parked': {
        allow(method, ['GET']);
        requireToken(options.adminToken, req);
        const query = validate(parkedQuerySchema, searchParamsOf(url), 'invalid query');
        const parked = await store.listParked(query);
        return { status: 200, body: { parked } };
      }

      case '/api/parked/retry': {
        allow(method, ['POST']);
        requireToken(options.adminToken, req);
        const input = validate(retryBodySchema, await readJson(req, maxBodyBytes), 'invalid retry request');
        const requeued = await store.retryParked(input);
        return { status: 200, body: { requeued } };
      }

      case '/api/outbox': {
        allow(method, ['GET']);
        requireToken(options.adminToken, req);
        const key: { direction: SyncDirection; target: string } = validate(
          outboxQuerySchema,
          searchParamsOf(url),
          'invalid query',
        );
        return { status: 200, body: { ...key, ...(await store.counts(key)) } };
      }

      case '/api/outbox/enqueue': {
        allow(method, ['POST']);
        requireToken(options.adminToken, req);
        const input = validate(
          enqueueBodySchema,
          await readJson(req, maxBodyBytes),
          'invalid enqueue request',
        );
        if (!targets.includes(input.target)) {
          throw new HttpError(
            404,
            `no CRM target "${input.target}" is configured (configured: ${targets.join(', ')})`,
          );
        }
        const contactNumbers = [...new Set(input.contactNumbers)];
        await store.enqueue({ direction: input.direction, targets: [input.target], contactNumbers });
        return { status: 200, body: { queued: contactNumbers.length } };
      }

      case '/api/conflicts': {
        allow(method, ['GET']);
        requireToken(options.adminToken, req);
        const query = validate(conflictsQuerySchema, searchParamsOf(url), 'invalid query');
        const conflicts = await store.listConflicts(query);
        return { status: 200, body: { conflicts } };
      }

      default: {
        if (url.pathname.startsWith(CRM_NOTIFICATIONS_PREFIX)) return receiveCrmChange(req, method, url);
        const massUpdate = MASS_UPDATE_PARKED_PATH.exec(url.pathname);
        if (massUpdate) {
          allow(method, ['GET']);
          requireToken(options.adminToken, req);
          const updateId = decodePathSegment(massUpdate[1] ?? '');
          const query = validate(massUpdateParkedQuerySchema, searchParamsOf(url), 'invalid query');
          const [counts, rows] = await Promise.all([
            store.countMassUpdateParked(updateId),
            store.listMassUpdateParked({ updateId, ...query }),
          ]);
          return { status: 200, body: { updateId, ...counts, rows } };
        }
        throw new HttpError(404, `no such endpoint: ${method} ${url.pathname}`);
      }
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://receiver.invalid');
    try {
      const { status, body } = await route(req, url);
      sendJson(res, status, body);
    } catch (err) {
      if (err instanceof HttpError) {
        sendJson(
          res,
          err.status,
          { error: err.message, ...(err.issues ? { issues: err.issues } : {}) },
          err.headers,
        );
      } else {
        onError(err, { method: req.method ?? '', path: url.pathname });
        sendJson(res, 500, { error: 'internal error' });
      }
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      onError(err, { method: req.method ?? '', path: req.url ?? '' });
      res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${clientHost(host)}:${port}`,
    port,
    close: () =>
      (closing ??= new Promise<void>((resolve, reject) => {
        const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        force.unref();
        server.close((err) => {
          clearTimeout(force);
          if (err) reject(err);
          else resolve();
        });
        server.closeIdleConnections();
      })),
  };
}

function allow(method: string, allowed: string[]): void {
  if (!allowed.includes(method)) {
    throw new HttpError(405, `method ${method} not allowed; use ${allowed.join(' or ')}`, undefined, {
      allow: allowed.join(', '),
    });
  }
}

/** Checks `Authorization: Bearer <token>` (or the given query token) when a token is configured. */
function requireToken(expected: string | undefined, req: IncomingMessage, queryToken?: string | null): void {
  if (expected === undefined || expected === '') return;
  const header = req.headers.authorization;
  const bearer = header?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim();
  const given = bearer ?? queryToken ?? undefined;
  if (given === undefined || !sameSecret(given, expected)) {
    throw new HttpError(401, 'missing or wrong token', undefined, { 'www-authenticate': 'Bearer' });
  }
}

/** Constant-time comparison that does not leak the expected length either. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * Checks the Standard Webhooks headers and signature of `raw` (the body as received); the library refuses a
 * timestamp more than 5 minutes off. Any refusal is a 401.
 */
function verifySignature(webhook: Webhook, req: IncomingMessage, raw: string): void {
  const headers: Record<string, string> = {};
  for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    const value = req.headers[name];
    const text = Array.isArray(value) ? value[0] : value;
    if (!text) throw new HttpError(401, `missing ${name} header`);
    headers[name] = text;
  }
  try {
    webhook.verify(raw, headers, { jsonParse: false });
  } catch (err) {
    throw new HttpError(401, `signature refused: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** A percent-encoded path segment; a malformed encoding is kept as is (and matches no target). */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  return parseJson(await readText(req, maxBytes));
}

/** The body as UTF-8 text, refused with 413 over `maxBytes`. */
async function readText(req: IncomingMessage, maxBytes: number): Promise<string> {
  const tooLarge = (): HttpError =>
    new HttpError(413, `request body larger than ${maxBytes} bytes`, undefined, { connection: 'close' });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const message = `malformed JSON: ${err instanceof Error ? err.message : String(err)}`;
    throw new HttpError(400, message, [{ path: '', message }]);
  }
}

/** Parses with `schema`, or throws a 400 whose message and issues name every field at fault. */
function validate<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: formatPath(issue.path),
    message: issue.message,
  }));
  const summary = issues
    .slice(0, 5)
    .map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message))
    .join('; ');
  const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : '';
  throw new HttpError(400, `${what}: ${summary}${more}`, issues);
}

/** `['contacts', 3, 'contactNumber']` -> `contacts[3].contactNumber`. */
function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, index) => (typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

/** The query as an object; an empty value counts as unset. */
function searchParamsOf(url: URL): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [name, value] of url.searchParams) if (value !== '') params[name] = value;
  return params;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** The address a client on this machine uses to reach `host`. */
function clientHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
