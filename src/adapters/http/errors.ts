/**
 * Errors thrown by every adapter. Each has a stable `name` and `code`, and keeps the underlying error as `cause`.
 * Activities translate them to Temporal failures (see `activities/failure-types.ts`):
 * - {@link ThrottledError}: the remote system asked us to slow down; retry after `retryAfterMs`.
 * - {@link TransientError}: network error, timeout, 5xx; retry with backoff.
 * - {@link PermanentError}: the request itself is wrong (4xx, invalid data); retrying cannot help.
 */
export abstract class AdapterError extends Error {
  abstract readonly code: string;
  constructor(
    message: string,
    readonly details: { system: string; status?: number; cause?: unknown } = { system: 'unknown' },
  ) {
    super(message, { cause: details.cause });
  }
}

export class ThrottledError extends AdapterError {
  override readonly name = 'ThrottledError';
  readonly code = 'THROTTLED';
  constructor(
    message: string,
    readonly retryAfterMs: number,
    details: { system: string; status?: number; cause?: unknown },
  ) {
    super(message, details);
  }
}

export class TransientError extends AdapterError {
  override readonly name = 'TransientError';
  readonly code = 'TRANSIENT';
}

export class PermanentError extends AdapterError {
  override readonly name: string = 'PermanentError';
  readonly code: string;
  constructor(message: string, details: { system: string; status?: number; cause?: unknown; code?: string }) {
    super(message, details);
    this.code = details.code ?? 'PERMANENT';
  }
}

/** The contact does not exist in the remote system (a permanent error with its own code). */
export class NotFoundError extends PermanentError {
  override readonly name: string = 'NotFoundError';
  constructor(message: string, details: { system: string; status?: number; cause?: unknown }) {
    super(message, { ...details, code: 'NOT_FOUND' });
  }
}
