import type { Got } from 'got';
import { z } from 'zod';
import { NotFoundError, PermanentError } from '../http/errors';
import { createHttpClient, toAdapterError } from '../http/http-client';
import type { ReleaseSlot } from '../http/sliding-window-limiter';
import {
  contactNumberSchema,
  s360ContactSchema,
  s360StatusSchema,
  type s360AddressSchema,
  type s360AuthorizationSchema,
  type s360CriterionSchema,
  type S360Contact,
} from './s360-contact';
import { S360TokenSource } from './s360-jwt';

const system = 'S-360';
const servicePath = '/tnco/backend-apis/contactInformationPublicService/v2_21';

/** Parts of a contact `getContactData` can return. */
export type S360ContactDetail =
  'GENERAL' | 'ADDRESSES' | 'AUTHORIZATIONS' | 'CRITERIA' | 'INDICATORS' | 'COM_MEANS';

/** What crm-sync reads by default: everything the mapping uses. */
export const defaultContactDetails: readonly S360ContactDetail[] = [
  'GENERAL',
  'ADDRESSES',
  'AUTHORIZATIONS',
  'CRITERIA',
  'COM_MEANS',
];

export interface S360SearchCriteria {
  email?: string;
  lastName?: string;
  firstName?: string;
  contactType?: S360Contact['contactType'];
  /** ISO timestamp: contacts changed since then. */
  modifiedSince?: string;
}

export interface S360Page {
  offset: number;
  size: number;
}

export interface S360SearchResult {
  contactNumbers: string[];
  total: number;
}

type S360AddressInput = z.input<typeof s360AddressSchema>;
type S360AuthorizationInput = z.input<typeof s360AuthorizationSchema>;
type S360CriterionInput = z.input<typeof s360CriterionSchema>;

/** The `saveIndividualContactData` request: the parts given replace the contact's. */
export interface S360ContactUpdate {
  contactNumber: string;
  general?: Partial<S360Contact['general']>;
  comMeans?: Partial<S360Contact['comMeans']>;
  addresses?: S360AddressInput[];
  authorizations?: S360AuthorizationInput[];
  criteria?: S360CriterionInput[];
  active?: boolean;
}

/** The `createCulturalContact` request. */
export interface S360NewContact {
  contactType: S360Contact['contactType'];
  role?: 'PUBLIC' | 'RELAY';
  structureContactNumber?: string;
  general: S360Contact['general'];
  comMeans?: Partial<S360Contact['comMeans']>;
  addresses?: S360AddressInput[];
  authorizations?: S360AuthorizationInput[];
  criteria?: S360CriterionInput[];
}

/** What the client needs from a rate limiter: a slot per call, released (when supported) once it answered. */
export interface S360CallLimiter {
  acquire(signal?: AbortSignal): Promise<ReleaseSlot | void>;
}

export interface S360ClientOptions {
  /** `https://<institution>.ws.secutix.com`, or a sandbox URL. */
  baseUrl: string;
  /** JWT `sub`. */
  institution: string;
  /** JWT `aud`. */
  operator: string;
  /** JWT `iss`. */
  partner: string;
  /** HS256 secret. */
  jwtSecret: string;
  /** The process-wide S-360 budget (a {@link SlidingWindowLimiter}); every call takes a slot first. */
  limiter: S360CallLimiter;
  /** Per call; default 30 s. */
  timeoutMs?: number;
}

/** Per-call options. */
export interface S360CallOptions {
  /** Aborts the wait for a slot and the request (an activity's cancellation signal). */
  signal?: AbortSignal;
}

const contactResultSchema = s360StatusSchema.extend({ contactData: s360ContactSchema });
const searchResultSchema = s360StatusSchema.extend({
  contactNumbers: z.array(contactNumberSchema),
  total: z.number().int().min(0),
});
const contactNumberResultSchema = s360StatusSchema.extend({ contactNumber: contactNumberSchema });

/**
 * The S-360 contact API (contactInformationPublicService v2_21) over REST-RPC: every method is a JSON POST with a
 * bearer JWT the client signs itself. Throws the adapter errors of `http/errors.ts`: a result whose `statusCode` is
 * `NOT_FOUND` is a {@link NotFoundError}, any other non-success a {@link PermanentError} with that code, a response
 * of the wrong shape a {@link PermanentError} `INVALID_RESPONSE`, and HTTP failures as `toAdapterError` says.
 */
export class S360Client {
  private readonly http: Got;
  private readonly tokens: S360TokenSource;
  private readonly limiter: S360CallLimiter;

  constructor(options: S360ClientOptions) {
    this.http = createHttpClient({
      system,
      prefixUrl: `${options.baseUrl.replace(/\/+$/, '')}${servicePath}/`,
      timeoutMs: options.timeoutMs ?? 30_000,
    });
    this.tokens = new S360TokenSource({
      institution: options.institution,
      operator: options.operator,
      partner: options.partner,
      secret: options.jwtSecret,
    });
    this.limiter = options.limiter;
  }

  /** Reads one contact; the contact number is kept as text (leading zeros are significant). */
  async getContactData(
    contactNumber: string,
    options: S360CallOptions & { details?: readonly S360ContactDetail[] } = {},
  ): Promise<S360Contact> {
    checkContactNumber(contactNumber);
    const method = 'getContactData';
    const body = await this.call(
      method,
      { contactNumber, details: options.details ?? defaultContactDetails },
      options.signal,
      contactNumber,
    );
    const result = parseResult(contactResultSchema, body, method);
    if (result.contactData.contactNumber !== contactNumber) {
      throw invalidResponse(
        method,
        `contactData.contactNumber: expected "${contactNumber}", got "${result.contactData.contactNumber}"`,
      );
    }
    return result.contactData;
  }

  /** Finds contact numbers by criteria, one page at a time. */
  async searchContact(
    criteria: S360SearchCriteria,
    page?: S360Page,
    options: S360CallOptions = {},
  ): Promise<S360SearchResult> {
    const method = 'searchContact';
    const body = await this.call(method, page ? { criteria, page } : { criteria }, options.signal);
    const result = parseResult(searchResultSchema, body, method);
    return { contactNumbers: result.contactNumbers, total: result.total };
  }

  /** Updates an existing contact (the documented call for CRM -> S-360 changes). */
  async saveIndividualContactData(
    update: S360ContactUpdate,
    options: S360CallOptions = {},
  ): Promise<{ contactNumber: string }> {
    checkContactNumber(update.contactNumber);
    const method = 'saveIndividualContactData';
    const body = await this.call(method, withoutUndefinedTitle(update), options.signal, update.contactNumber);
    return { contactNumber: parseResult(contactNumberResultSchema, body, method).contactNumber };
  }

  /** Creates a contact and returns the number S-360 gave it. */
  async createCulturalContact(
    contact: S360NewContact,
    options: S360CallOptions = {},
  ): Promise<{ contactNumber: string }> {
    const method = 'createCulturalContact';
    const body = await this.call(method, withoutUndefinedTitle(contact), options.signal);
    return { contactNumber: parseResult(contactNumberResultSchema, body, method).contactNumber };
  }

  private async call(
    method: string,
    request: object,
    signal?: AbortSignal,
    subject?: string,
  ): Promise<unknown> {
    const release = await this.limiter.acquire(signal);
    try {
      return await this.http
        .post(method, {
          json: request,
          headers: { authorization: `Bearer ${this.tokens.token()}` },
          ...(signal ? { signal } : {}),
        })
        .json<unknown>();
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      const operation = `POST ${servicePath}/${method}${subject ? ` (contact ${subject})` : ''}`;
      const translated = toAdapterError(err, { system, operation });
      if (translated instanceof PermanentError && translated.code === 'UNAUTHORIZED') {
        throw new PermanentError(
          `${translated.message} (check the S-360 JWT secret, institution, operator and partner)`,
          { ...translated.details, code: 'UNAUTHORIZED' },
        );
      }
      throw translated;
    } finally {
      if (release) release();
    }
  }
}

function parseResult<T extends z.ZodType<{ statusCode: string; statusDetail?: string | null }>>(
  schema: T,
  body: unknown,
  method: string,
): z.infer<T> {
  const envelope = s360StatusSchema.safeParse(body);
  if (!envelope.success) throw invalidResponse(method, describeIssues(envelope.error));
  const { statusCode, statusDetail } = envelope.data;
  if (statusCode.toLowerCase() !== 'success') {
    const message = `${system} ${method}: ${statusCode}${statusDetail ? `: ${statusDetail}` : ''}`;
    if (statusCode === 'NOT_FOUND') throw new NotFoundError(message, { system, status: 200 });
    throw new PermanentError(message, { system, status: 200, code: statusCode });
  }
  const result = schema.safeParse(body);
  if (!result.success) throw invalidResponse(method, describeIssues(result.error));
  return result.data;
}

function invalidResponse(method: string, what: string): PermanentError {
  return new PermanentError(`${system} ${method} returned an invalid response: ${what}`, {
    system,
    status: 200,
    code: 'INVALID_RESPONSE',
  });
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(body)'}: ${issue.message}`)
    .join('; ');
}

function checkContactNumber(contactNumber: string): void {
  const parsed = contactNumberSchema.safeParse(contactNumber);
  if (!parsed.success) {
    throw new PermanentError(
      `${system}: "${contactNumber}" is not a contact number (1 to 20 digits as text)`,
      {
        system,
        code: 'INVALID_CONTACT_NUMBER',
      },
    );
  }
}

/** An unknown title reads as UNDEFINED: sending it back would overwrite the real one. */
function withoutUndefinedTitle<T extends { general?: Partial<S360Contact['general']> }>(request: T): T {
  if (request.general?.title !== 'UNDEFINED') return request;
  const { title: _title, ...general } = request.general;
  return { ...request, general };
}
