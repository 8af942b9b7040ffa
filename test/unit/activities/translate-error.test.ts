import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../../../src/failure-types';
import { toActivityFailure } from '../../../src/activities/translate-error';
import {
  NotFoundError,
  PermanentError,
  ThrottledError,
  TransientError,
} from '../../../src/adapters/http/errors';

function asFailure(value: unknown): ApplicationFailure {
  expect(value).toBeInstanceOf(ApplicationFailure);
  return value as ApplicationFailure;
}

describe('toActivityFailure', () => {
  it('turns throttling into a retryable failure delayed by Retry-After', () => {
    const err = new ThrottledError('S-360 POST /x: throttled', 12_000, { system: 'S-360', status: 509 });
    const failure = asFailure(toActivityFailure(err));
    expect(failure.type).toBe(FailureType.Throttled);
    expect(failure.nonRetryable).toBe(false);
    expect(failure.nextRetryDelay).toBe(12_000);
    expect(failure.message).toBe('S-360 POST /x: throttled');
    expect(failure.details).toEqual([{ code: 'THROTTLED', system: 'S-360', status: 509 }]);
    expect(failure.cause).toBe(err);
  });

  it('turns a transient error into a retryable failure without a fixed delay', () => {
    const failure = asFailure(toActivityFailure(new TransientError('CRM down', { system: 'CRM default' })));
    expect(failure.type).toBe(FailureType.Transient);
    expect(failure.nonRetryable).toBe(false);
    expect(failure.nextRetryDelay).toBeUndefined();
  });

  it('turns a permanent error into a non-retryable failure keeping its code', () => {
    const failure = asFailure(
      toActivityFailure(new PermanentError('bad', { system: 'S-360', status: 401, code: 'UNAUTHORIZED' })),
    );
    expect(failure.type).toBe(FailureType.Permanent);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.details).toEqual([{ code: 'UNAUTHORIZED', system: 'S-360', status: 401 }]);
    const notFound = asFailure(toActivityFailure(new NotFoundError('gone', { system: 'S-360' })));
    expect(notFound.details).toEqual([{ code: 'NOT_FOUND', system: 'S-360' }]);
  });

  it('returns any other error as is', () => {
    const err = new TypeError('a bug');
    expect(toActivityFailure(err)).toBe(err);
    expect(toActivityFailure('text')).toBe('text');
  });
});
