import { ApplicationFailure } from '@temporalio/activity';
import { AdapterError, PermanentError, ThrottledError, TransientError } from '../adapters/http/errors';
import { FailureType } from '../failure-types';

/** What a translated failure carries in its `details[0]`, for the workflow and the Web UI. */
export interface AdapterFailureDetails {
  code: string;
  system: string;
  status?: number;
}

/**
 * Turns an adapter error into the Temporal failure the retry policy understands:
 * - {@link ThrottledError} -> `Throttled`, retried after the remote system's `Retry-After` (`nextRetryDelay`);
 * - {@link TransientError} -> `Transient`, retried with the policy's backoff;
 * - {@link PermanentError} -> `Permanent`, not retried; its code (NOT_FOUND, UNAUTHORIZED...) is in the details.
 * Any other error is returned as is: the caller rethrows it and Temporal treats it as retryable.
 */
export function toActivityFailure(err: unknown): unknown {
  if (!(err instanceof AdapterError)) return err;
  const details: AdapterFailureDetails = {
    code: err.code,
    system: err.details.system,
    ...(err.details.status !== undefined ? { status: err.details.status } : {}),
  };
  if (err instanceof ThrottledError) {
    return ApplicationFailure.create({
      type: FailureType.Throttled,
      message: err.message,
      nextRetryDelay: err.retryAfterMs,
      details: [details],
      cause: err,
    });
  }
  if (err instanceof TransientError) {
    return ApplicationFailure.create({
      type: FailureType.Transient,
      message: err.message,
      nonRetryable: false,
      details: [details],
      cause: err,
    });
  }
  if (err instanceof PermanentError) {
    return ApplicationFailure.create({
      type: FailureType.Permanent,
      message: err.message,
      nonRetryable: true,
      details: [details],
      cause: err,
    });
  }
  return err;
}

/**
 * The adapter of a CRM target, or a non-retryable `Configuration` failure naming the target when there is none
 * (a target removed from the configuration while its workflow still runs).
 */
export function crmAdapterOrFailure<Adapter>(lookup: (target: string) => Adapter, target: string): Adapter {
  try {
    return lookup(target);
  } catch (err) {
    throw ApplicationFailure.create({
      type: FailureType.Configuration,
      nonRetryable: true,
      message: `No CRM adapter for target "${target}": ${err instanceof Error ? err.message : String(err)}`,
      ...(err instanceof Error ? { cause: err } : {}),
    });
  }
}

/**
 * Whether S-360 or a CRM refused crm-sync's own credentials (401, 403, UNAUTHORIZED): no contact is at fault, and
 * every other call would be refused the same way.
 */
export function isCredentialsRefusal(err: unknown): err is PermanentError {
  return (
    err instanceof PermanentError &&
    (err.code === 'UNAUTHORIZED' || err.details.status === 401 || err.details.status === 403)
  );
}

/**
 * The failure for refused credentials: non-retryable `Configuration`, which makes a sync workflow pause itself
 * with the reason and leave the contacts queued, instead of parking every one of them.
 */
export function credentialsFailure(err: PermanentError): ApplicationFailure {
  return ApplicationFailure.create({
    type: FailureType.Configuration,
    nonRetryable: true,
    message: `${err.details.system} refused crm-sync's credentials: ${err.message} (check the configuration)`,
    details: [
      {
        code: err.code,
        system: err.details.system,
        ...(err.details.status !== undefined ? { status: err.details.status } : {}),
      } satisfies AdapterFailureDetails,
    ],
    cause: err,
  });
}
