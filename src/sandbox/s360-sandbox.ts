import type { IncomingMessage } from 'node:http';
import { contactNumberSchema, s360ContactSchema, type S360Contact } from '../adapters/s360/s360-contact';
import { CallWindow } from '../adapters/http/call-window';
import { ChangeNotifier, type SandboxChange } from './change-notifier';
import { formatContactNumber, generateContacts } from './s360-contact-generator';
import { s360JwtRefusal } from './s360-jwt-verifier';
import {
  createRouter,
  FaultState,
  HttpError,
  formatPath,
  intParam,
  isRecord,
  listenLocal,
  parseJson,
  readJsonBody,
  readRawBody,
  sendJson,
  type Route,
} from './sandbox-http';

export interface S360SandboxOptions {
  /** 0 or absent: the OS chooses. */
  port?: number;
  /** HS256 secret the bearer JWTs must be signed with. */
  jwtSecret: string;
  /** When set, the JWT `sub` must equal it. */
  institution?: string;
  /** Accepted API calls per sliding 60 s window; default 180 (S-360's limit); 0 = unlimited. */
  callsPerMinute?: number;
  /** The answer to a call over the limit: 509 (S-360 today) or 429 (where it is migrating); default 509. */
  throttleStatus?: 509 | 429;
  /** Where changes are POSTed as `{contacts: [{contactNumber, changeType, modifiedAt}]}`; none when absent. */
  notificationUrl?: string;
  /** Changes per notification POST; default 50. */
  notificationBatchSize?: number;
}

export interface S360Sandbox {
  url: string;
  port: number;
  close(): Promise<void>;
  /**
   * Resolves when every change so far has been POSTed successfully to `notificationUrl` (immediately when none is
   * set); rejects if the sandbox is closed first.
   */
  notificationsIdle(): Promise<void>;
}

/** Where the contact API lives, as on a real S-360 instance. */
export const s360ServicePath = '/tnco/backend-apis/contactInformationPublicService/v2_21';

const windowMs = 60_000;

/** Parts of a contact `getContactData` can leave out, by detail code. */
const optionalParts = {
  COM_MEANS: 'comMeans',
  ADDRESSES: 'addresses',
  AUTHORIZATIONS: 'authorizations',
  CRITERIA: 'criteria',
} as const;

/** Fields `saveIndividualContactData` may change. */
const savableFields = ['general', 'comMeans', 'addresses', 'authorizations', 'criteria', 'active'];
/** Fields the control PATCH may change. */
const patchableFields = [...savableFields, 'contactType', 'role', 'structureContactNumber'];

interface S360Stats {
  calls: number;
  throttled: number;
  maxCallsPer60s: number;
  notificationsDelivered: number;
  notificationsFailed: number;
}

/** A refusal answered as HTTP 200 with an S-360 status, as the real API does. */
class S360StatusError extends Error {
  constructor(
    readonly statusCode: 'NOT_FOUND' | 'INVALID_PARAMETER',
    readonly statusDetail: string,
  ) {
    super(`${statusCode}: ${statusDetail}`);
  }
}

/**
 * Starts a simulator of the S-360 contact API (contactInformationPublicService v2_21) for demos, tests and
 * benchmarks: JWT checks and the per-instance rate limit as S-360 applies them, deterministic generated contacts,
 * a change feed and change notifications, fault injection and statistics under `/__sandbox/`.
 */
export async function startS360Sandbox(options: S360SandboxOptions): Promise<S360Sandbox> {
  // Changed at run time by PUT /__sandbox/limit (SecuTix raising an instance's limit for a while).
  let callsPerMinute = options.callsPerMinute ?? 180;
  const throttleStatus = options.throttleStatus ?? 509;
  const contacts = new Map<string, S360Contact>();
  const changes: SandboxChange[] = [];
  const faults = new FaultState();
  let nextNumber = 1;
  /** The calls accepted by the rate limit within the last 60 s. */
  const accepted = new CallWindow(windowMs);
  /** The calls received within the last 60 s (for maxCallsPer60s). */
  const received = new CallWindow(windowMs);
  const stats: S360Stats = {
    calls: 0,
    throttled: 0,
    maxCallsPer60s: 0,
    notificationsDelivered: 0,
    notificationsFailed: 0,
  };

  const notifier = options.notificationUrl
    ? new ChangeNotifier({
        url: options.notificationUrl,
        batchSize: Math.max(1, options.notificationBatchSize ?? 50),
        changes,
        onDelivered: () => (stats.notificationsDelivered += 1),
        onFailed: () => (stats.notificationsFailed += 1),
      })
    : undefined;

  function recordChange(contactNumber: string, changeType: SandboxChange['changeType'], modifiedAt: string) {
    changes.push({ seq: changes.length + 1, contactNumber, changeType, modifiedAt });
    notifier?.notify();
  }

  function store(contact: S360Contact, changeType: SandboxChange['changeType']): void {
    contacts.set(contact.contactNumber, contact);
    recordChange(contact.contactNumber, changeType, contact.lastModificationDate);
  }

  /** Merges a partial contact (general/comMeans merged, arrays replaced) and validates the result. */
  function merged(
    contact: S360Contact,
    patch: Record<string, unknown>,
    fields: readonly string[],
  ): { ok: true; contact: S360Contact } | { ok: false; detail: string } {
    const next: Record<string, unknown> = { ...contact };
    for (const field of fields) {
      if (!(field in patch)) continue;
      const value = patch[field];
      if (field === 'general' || field === 'comMeans') {
        if (!isRecord(value)) return { ok: false, detail: `${field}: expected an object` };
        next[field] = { ...contact[field], ...value };
      } else {
        next[field] = value;
      }
    }
    next.lastModificationDate = new Date().toISOString();
    const parsed = s360ContactSchema.safeParse(next);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return { ok: false, detail: `${formatPath(issue?.path ?? [])}: ${issue?.message ?? 'invalid'}` };
    }
    return { ok: true, contact: parsed.data };
  }

  function relayProblem(contact: S360Contact): string | undefined {
    if (contact.role !== 'RELAY') return undefined;
    const structure = contact.structureContactNumber
      ? contacts.get(contact.structureContactNumber)
      : undefined;
    if (structure?.contactType !== 'STRUCTURE') {
      return 'structureContactNumber: a relay must belong to an existing structure';
    }
    return undefined;
  }

  const api: Record<string, (request: Record<string, unknown>) => Record<string, unknown>> = {
    getContactData(request) {
      const contactNumber = requireContactNumber(request.contactNumber);
      const contact = contacts.get(contactNumber);
      if (!contact) throw new S360StatusError('NOT_FOUND', `Contact ${contactNumber} does not exist`);
      const details = Array.isArray(request.details) ? request.details : undefined;
      if (!details) return { contactData: contact };
      const contactData: Record<string, unknown> = { ...contact };
      for (const [detail, part] of Object.entries(optionalParts)) {
        if (!details.includes(detail)) delete contactData[part];
      }
      return { contactData };
    },

    searchContact(request) {
      const criteria = request.criteria === undefined ? {} : request.criteria;
      if (!isRecord(criteria)) throw new S360StatusError('INVALID_PARAMETER', 'criteria: expected an object');
      const text = (name: string): string | undefined => {
        const value = criteria[name];
        if (value === undefined || value === null) return undefined;
        if (typeof value !== 'string') {
          throw new S360StatusError('INVALID_PARAMETER', `criteria.${name}: expected a string`);
        }
        return value.toLowerCase();
      };
      const email = text('email');
      const lastName = text('lastName');
      const firstName = text('firstName');
      const contactType = criteria.contactType;
      const modifiedSinceText = text('modifiedSince');
      const modifiedSince = modifiedSinceText === undefined ? undefined : Date.parse(modifiedSinceText);
      if (modifiedSince !== undefined && Number.isNaN(modifiedSince)) {
        throw new S360StatusError('INVALID_PARAMETER', 'criteria.modifiedSince: expected an ISO timestamp');
      }
      const page = request.page === undefined ? { offset: 0, size: 100 } : request.page;
      if (
        !isRecord(page) ||
        !Number.isInteger(page.offset) ||
        (page.offset as number) < 0 ||
        !Number.isInteger(page.size) ||
        (page.size as number) < 1
      ) {
        throw new S360StatusError('INVALID_PARAMETER', 'page: expected {offset >= 0, size >= 1}');
      }
      const matches: string[] = [];
      for (const contact of contacts.values()) {
        if (email !== undefined && contact.comMeans.email?.toLowerCase() !== email) continue;
        if (lastName !== undefined && contact.general.lastName?.toLowerCase() !== lastName) continue;
        if (firstName !== undefined && contact.general.firstName?.toLowerCase() !== firstName) continue;
        if (contactType !== undefined && contactType !== null && contact.contactType !== contactType)
          continue;
        if (modifiedSince !== undefined && Date.parse(contact.lastModificationDate) < modifiedSince) continue;
        matches.push(contact.contactNumber);
      }
      const offset = page.offset as number;
      return {
        contactNumbers: matches.slice(offset, offset + (page.size as number)),
        total: matches.length,
      };
    },

    saveIndividualContactData(request) {
      const contactNumber = requireContactNumber(request.contactNumber);
      const contact = contacts.get(contactNumber);
      if (!contact) throw new S360StatusError('NOT_FOUND', `Contact ${contactNumber} does not exist`);
      const result = merged(contact, request, savableFields);
      if (!result.ok) throw new S360StatusError('INVALID_PARAMETER', result.detail);
      store(result.contact, 'UPDATED');
      return { contactNumber };
    },

    createCulturalContact(request) {
      const contactNumber = formatContactNumber(nextNumber);
      const candidate: Record<string, unknown> = {
        contactNumber,
        contactType: request.contactType,
        role: request.role ?? (request.contactType === 'INDIVIDUAL' ? 'PUBLIC' : undefined),
        structureContactNumber: request.structureContactNumber,
        general: request.general,
        comMeans: request.comMeans,
        addresses: request.addresses,
        authorizations: request.authorizations,
        criteria: request.criteria,
        active: true,
        lastModificationDate: new Date().toISOString(),
      };
      const parsed = s360ContactSchema.safeParse(candidate);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new S360StatusError(
          'INVALID_PARAMETER',
          `${formatPath(issue?.path ?? [])}: ${issue?.message ?? 'invalid'}`,
        );
      }
      const problem = relayProblem(parsed.data);
      if (problem) throw new S360StatusError('INVALID_PARAMETER', problem);
      nextNumber += 1;
      store(parsed.data, 'CREATED');
      return { contactNumber };
    },
  };

  /** Counts a received call; answers the throttle status when the window is full. */
  function admit(now: number): void {
    received.record(now);
    stats.calls += 1;
    stats.maxCallsPer60s = Math.max(stats.maxCallsPer60s, received.count(now));
  }

  function throttle(now: number): void {
    if (callsPerMinute <= 0) return;
    if (accepted.count(now) >= callsPerMinute) {
      stats.throttled += 1;
      const oldest = accepted.oldest(now) ?? now;
      const retryAfterSeconds = Math.max(1, Math.ceil((oldest + windowMs - now) / 1000));
      throw new HttpError(
        throttleStatus,
        `rate limit exceeded: at most ${callsPerMinute} calls per minute`,
        { retryAfterSeconds },
        { 'retry-after': String(retryAfterSeconds) },
      );
    }
    accepted.record(now);
  }

  async function handleApi(req: IncomingMessage, method: string): Promise<Record<string, unknown>> {
    admit(Date.now());
    const raw = await readRawBody(req);
    await faults.apply();
    const refusal = s360JwtRefusal(header(req, 'authorization'), {
      secret: options.jwtSecret,
      nowSeconds: Math.floor(Date.now() / 1000),
      ...(options.institution !== undefined ? { institution: options.institution } : {}),
    });
    if (refusal) throw new HttpError(401, refusal, { statusCode: 'UNAUTHORIZED', statusDetail: refusal });
    throttle(Date.now());
    const request = parseJson(raw);
    const handler = Object.hasOwn(api, method) ? api[method] : undefined;
    if (!handler) throw new HttpError(404, `unknown method ${method}`);
    if (!isRecord(request)) throw new HttpError(400, 'expected a JSON object');
    try {
      return { statusCode: 'success', ...handler(request) };
    } catch (err) {
      if (err instanceof S360StatusError) {
        return { statusCode: err.statusCode, statusDetail: err.statusDetail };
      }
      throw err;
    }
  }

  const contactPath = /^\/__sandbox\/contacts\/([^/]+)$/;
  const routes: Route[] = [
    {
      method: 'POST',
      path: new RegExp(`^${s360ServicePath}/([^/]+)$`),
      handle: async ({ req, res, params }) => sendJson(res, 200, await handleApi(req, params[0] ?? '')),
    },
    {
      method: 'POST',
      path: /^\/__sandbox\/contacts\/generate$/,
      handle: async ({ req, res }) => {
        const body = await readJsonBody(req);
        const count = isRecord(body) ? body.count : undefined;
        const seed = isRecord(body) ? (body.seed ?? 1) : undefined;
        // notify: false makes contacts that were there before crm-sync (no change notification).
        const notify = isRecord(body) ? (body.notify ?? true) : true;
        if (typeof notify !== 'boolean') throw new HttpError(400, 'notify: expected true or false');
        if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 1_000_000) {
          throw new HttpError(400, 'count: expected an integer from 1 to 1000000');
        }
        if (typeof seed !== 'number' || !Number.isInteger(seed)) {
          throw new HttpError(400, 'seed: expected an integer');
        }
        const firstNumber = nextNumber;
        const generated = generateContacts(count, seed, new Date().toISOString());
        generated.forEach(({ structureIndex, ...contact }, index) => {
          const contactNumber = formatContactNumber(firstNumber + index);
          const structureContactNumber =
            structureIndex === undefined ? undefined : formatContactNumber(firstNumber + structureIndex);
          const created = s360ContactSchema.parse({
            ...contact,
            contactNumber,
            ...(structureContactNumber ? { structureContactNumber } : {}),
          });
          if (notify) store(created, 'CREATED');
          else contacts.set(contactNumber, created);
        });
        nextNumber += count;
        sendJson(res, 200, {
          count,
          first: formatContactNumber(firstNumber),
          last: formatContactNumber(nextNumber - 1),
        });
      },
    },
    {
      method: 'GET',
      path: contactPath,
      handle: ({ res, params }) => {
        const contact = contacts.get(params[0] ?? '');
        if (!contact) throw new HttpError(404, `Contact ${params[0] ?? ''} does not exist`);
        sendJson(res, 200, contact);
      },
    },
    {
      method: 'PATCH',
      path: contactPath,
      handle: async ({ req, res, params }) => {
        const body = await readJsonBody(req);
        const contact = contacts.get(params[0] ?? '');
        if (!contact) throw new HttpError(404, `Contact ${params[0] ?? ''} does not exist`);
        if (!isRecord(body)) throw new HttpError(400, 'expected a JSON object');
        const result = merged(contact, body, patchableFields);
        if (!result.ok) throw new HttpError(400, result.detail);
        const problem = relayProblem(result.contact);
        if (problem) throw new HttpError(400, problem);
        store(result.contact, 'UPDATED');
        sendJson(res, 200, result.contact);
      },
    },
    {
      method: 'GET',
      path: /^\/__sandbox\/changes$/,
      handle: ({ res, url }) => {
        const after = intParam(url, 'after', 0);
        const limit = Math.max(1, intParam(url, 'limit', 100, 1000));
        // Seqs are 1-based and contiguous: the change after `after` sits at index `after`.
        const page = changes.slice(after, after + limit);
        sendJson(res, 200, { changes: page, cursor: page.at(-1)?.seq ?? Math.min(after, changes.length) });
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
      path: /^\/__sandbox\/limit$/,
      handle: ({ res }) => sendJson(res, 200, { callsPerMinute }),
    },
    {
      method: 'PUT',
      path: /^\/__sandbox\/limit$/,
      handle: async ({ req, res }) => {
        const body = await readJsonBody(req);
        const value = isRecord(body) ? body.callsPerMinute : undefined;
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
          throw new HttpError(400, 'callsPerMinute: expected an integer from 0 (0: unlimited)');
        }
        callsPerMinute = value;
        sendJson(res, 200, { callsPerMinute });
      },
    },
    {
      method: 'GET',
      path: /^\/__sandbox\/stats$/,
      handle: ({ res }) => sendJson(res, 200, { ...stats, contacts: contacts.size }),
    },
    {
      method: 'POST',
      path: /^\/__sandbox\/stats\/reset$/,
      handle: ({ res }) => {
        Object.assign(stats, {
          calls: 0,
          throttled: 0,
          maxCallsPer60s: 0,
          notificationsDelivered: 0,
          notificationsFailed: 0,
        });
        received.clear();
        sendJson(res, 200, { ...stats, contacts: contacts.size });
      },
    },
  ];

  const listening = await listenLocal(createRouter(routes), options.port ?? 0);
  return {
    url: listening.url,
    port: listening.port,
    notificationsIdle: () => notifier?.idle() ?? Promise.resolve(),
    close: async () => {
      notifier?.close();
      await listening.close();
    },
  };
}

function requireContactNumber(value: unknown): string {
  const parsed = contactNumberSchema.safeParse(value);
  if (!parsed.success) {
    throw new S360StatusError(
      'INVALID_PARAMETER',
      `contactNumber: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
