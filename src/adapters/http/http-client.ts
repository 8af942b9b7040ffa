import got, { HTTPError, ParseError, RequestError, TimeoutError, type Got, type Response } from 'got';
import { NotFoundError, PermanentError, ThrottledError, TransientError, type AdapterError } from './errors';

/** Options of {@link createHttpClient}. */
export interface HttpClientOptions {
  /** Names the remote system in error messages ("S-360", "CRM default"). */
  system: string;
  prefixUrl?: string;
  /** Whole-request timeout. */
  timeoutMs: number;
  headers?: Record<string, string>;
}

/**
 * A got instance for one remote system: JSON, a whole-request timeout, and got's own retry disabled because
 * Temporal retries activities (a retry inside an activity would hide throttling from the retry policy).
 */
export function createHttpClient(options: HttpClientOptions): Got {
  return got.extend({
    ...(options.prefixUrl !== undefined ? { prefixUrl: options.prefixUrl } : {}),
    timeout: { request: options.timeoutMs },
    retry: { limit: 0 },
    responseType: 'json',
    headers: { accept: 'application/json', ...options.headers },
  });
}

/** Used when a 509/429 carries no usable Retry-After. */
export const defaultRetryAfterMs = 60_000;

/** Network failures worth retrying. */
const transientCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/**
 * Parses `Retry-After` (delay in seconds, or an HTTP date) into milliseconds from `now`. Returns undefined when
 * the header is absent or unreadable.
 */
export function parseRetryAfterMs(
  value: string | string[] | undefined,
  now = Date.now(),
): number | undefined {
  const header = Array.isArray(value) ? value[0] : value;
  if (header === undefined || header.trim() === '') return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** What the error function needs to know about the call that failed. */
export interface HttpErrorContext {
  system: string;
  /** The operation, e.g. "POST /hooks/contacts"; taken from the got error when absent. */
  operation?: string;
  /**
   * The CRM webhook convention (Standard Webhooks): 502/503/504 with a `Retry-After` mean "slow down" rather than
   * "broken". S-360 only throttles with 509/429.
   */
  throttleOn5xxWithRetryAfter?: boolean;
}

/**
 * Turns a got error (or a non-2xx response) into the adapter errors of `errors.ts`:
 * - 509, 429 (and, for webhooks, 502/503/504 with `Retry-After`) -> {@link ThrottledError};
 * - other 5xx, timeouts, connection refused/reset -> {@link TransientError};
 * - 404 -> {@link NotFoundError}; other 4xx -> {@link PermanentError} with the body's reason;
 * - a 2xx body that is not JSON -> {@link PermanentError} `INVALID_RESPONSE`.
 * Anything else (an abort, a programming error) is returned as is, for the caller to rethrow.
 */
export function toAdapterError(err: unknown, context: HttpErrorContext): unknown {
  const { system } = context;
  if (err instanceof HTTPError)
    return responseToAdapterError(err.response as Response<unknown>, context, err);
  if (!(err instanceof RequestError)) return err;
  const operation = context.operation ?? describeRequest(err);
  if (err instanceof ParseError) {
    return new PermanentError(`${system} ${operation}: the response is not valid JSON (${err.message})`, {
      system,
      status: err.response?.statusCode,
      cause: err,
      code: 'INVALID_RESPONSE',
    });
  }
  if (err instanceof TimeoutError) {
    return new TransientError(`${system} ${operation}: timed out (${err.message})`, { system, cause: err });
  }
  if (transientCodes.has(err.code)) {
    return new TransientError(`${system} ${operation}: ${err.code} (${err.message})`, { system, cause: err });
  }
  if (err.name === 'AbortError') return err;
  // Other request errors (a socket hang-up, a read error): the request may not have reached the server.
  return new TransientError(`${system} ${operation}: ${err.code || err.name} (${err.message})`, {
    system,
    cause: err,
  });
}

/** The status-based half of {@link toAdapterError}, for a response read with `throwHttpErrors: false`. */
export function responseToAdapterError(
  response: Pick<Response<unknown>, 'statusCode' | 'statusMessage' | 'headers' | 'body'> & {
    requestUrl?: URL;
    request?: { options: { method: string } };
  },
  context: HttpErrorContext,
  cause?: unknown,
): AdapterError {
  const { system } = context;
  const status = response.statusCode;
  const operation =
    context.operation ??
    `${response.request?.options.method ?? 'HTTP'} ${response.requestUrl?.pathname ?? '(unknown path)'}`;
  const statusText = `HTTP ${status}${response.statusMessage ? ` ${response.statusMessage}` : ''}`;
  const retryAfterMs = parseRetryAfterMs(response.headers['retry-after']);
  const details = { system, status, cause };

  if (status === 509 || status === 429) {
    const delay = retryAfterMs ?? defaultRetryAfterMs;
    return new ThrottledError(
      `${system} ${operation}: throttled (${statusText}), retry after ${delay} ms`,
      delay,
      details,
    );
  }
  if (context.throttleOn5xxWithRetryAfter && [502, 503, 504].includes(status) && retryAfterMs !== undefined) {
    return new ThrottledError(
      `${system} ${operation}: unavailable (${statusText}), retry after ${retryAfterMs} ms`,
      retryAfterMs,
      details,
    );
  }
  const reason = bodyReason(response.body);
  const withReason = reason ? `${statusText}: ${reason}` : statusText;
  if (status >= 500) return new TransientError(`${system} ${operation}: ${withReason}`, details);
  if (status === 404) return new NotFoundError(`${system} ${operation}: ${withReason}`, details);
  if (status >= 400) {
    return new PermanentError(`${system} ${operation}: ${withReason}`, {
      ...details,
      code: clientErrorCode(status),
    });
  }
  // A 1xx/3xx that got did not follow: the server speaks a protocol we do not.
  return new PermanentError(`${system} ${operation}: unexpected ${withReason}`, {
    ...details,
    code: 'UNEXPECTED_STATUS',
  });
}

function clientErrorCode(status: number): string {
  switch (status) {
    case 400:
      return 'BAD_REQUEST';
    case 401:
      return 'UNAUTHORIZED';
    case 403:
      return 'FORBIDDEN';
    case 409:
      return 'CONFLICT';
    case 413:
      return 'PAYLOAD_TOO_LARGE';
    case 422:
      return 'UNPROCESSABLE';
    default:
      return `HTTP_${status}`;
  }
}

const reasonKeys = ['message', 'error_description', 'error', 'reason', 'statusDetail', 'detail', 'title'];

/** The human reason a 4xx/5xx body gives, whatever its shape (JSON object, JSON string or text). */
function bodyReason(body: unknown): string | undefined {
  let value = body;
  if (Buffer.isBuffer(value)) value = value.toString('utf8');
  if (typeof value === 'string') {
    const text = value.trim();
    if (text === '') return undefined;
    try {
      value = JSON.parse(text) as unknown;
    } catch {
      return truncate(text);
    }
  }
  if (typeof value === 'string') return truncate(value);
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const key of reasonKeys) {
      const field = record[key];
      if (typeof field === 'string' && field.trim() !== '') return truncate(field);
      if (field && typeof field === 'object') {
        const nested = bodyReason(field);
        if (nested) return nested;
      }
    }
    return truncate(JSON.stringify(value));
  }
  return undefined;
}

function truncate(text: string, max = 300): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

function describeRequest(err: RequestError): string {
  const method = err.options?.method ?? 'HTTP';
  const url = err.options?.url;
  const path = url instanceof URL ? url.pathname : typeof url === 'string' ? safePath(url) : '(unknown path)';
  return `${method} ${path}`;
}

function safePath(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}
