/**
 * Temporal failure types raised by activities. Workflows and retry policies refer to these names; keep them
 * stable, as they are recorded in workflow histories.
 */
export const FailureType = {
  /** The remote system throttled us (509/429); retried after its Retry-After. */
  Throttled: 'Throttled',
  /** Network error, timeout or 5xx; retried with backoff. */
  Transient: 'Transient',
  /** A request the remote system refuses (4xx); not retried. */
  Permanent: 'Permanent',
  /** Invalid configuration found at run time; not retried. */
  Configuration: 'Configuration',
  /** A mass update file that cannot be used (missing, no header, wrong delimiter); not retried. */
  InvalidUpdateFile: 'InvalidUpdateFile',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/** Failure types that a retry can never fix. */
export const nonRetryableFailureTypes: string[] = [
  FailureType.Permanent,
  FailureType.Configuration,
  FailureType.InvalidUpdateFile,
];
