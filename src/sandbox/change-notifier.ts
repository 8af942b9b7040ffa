/** One change of an S-360 sandbox contact, as the change feed lists it. */
export interface SandboxChange {
  seq: number;
  contactNumber: string;
  changeType: 'CREATED' | 'UPDATED';
  modifiedAt: string;
}

/** What {@link ChangeNotifierOptions.request} returns: the body and extra headers of one POST. */
export interface NotifierRequest {
  body: string;
  headers?: Record<string, string>;
}

export interface ChangeNotifierOptions<T extends { seq: number } = SandboxChange> {
  url: string;
  batchSize: number;
  /** The changes so far, in order, seqs 1-based and contiguous; the notifier reads it and never changes it. */
  changes: readonly T[];
  /**
   * Builds the POST of a batch, called again for each retry. Default: the S-360 contact webhook body
   * (`{contacts: [{contactNumber, changeType, modifiedAt}]}`), which needs changes shaped as {@link SandboxChange}.
   */
  request?(batch: readonly T[]): NotifierRequest;
  /** Called once per successful POST with the number of changes it carried. */
  onDelivered(changes: number): void;
  /** Called once per failed POST. */
  onFailed(): void;
  /**
   * When set, a 4xx answer other than 408 and 429 refuses the batch for good: it is counted here (with the number
   * of changes it carried) and the notifier goes on with the next one. When absent, every non-2xx is retried.
   */
  onRefused?(changes: number): void;
  /** Named in the error that `idle()` rejects with once closed; default "the S-360 sandbox". */
  owner?: string;
}

/** The body of S-360's contact webhook. */
function s360WebhookRequest(batch: readonly SandboxChange[]): NotifierRequest {
  return {
    body: JSON.stringify({
      contacts: batch.map(({ contactNumber, changeType, modifiedAt }) => ({
        contactNumber,
        changeType,
        modifiedAt,
      })),
    }),
  };
}

const flushDelayMs = 50;
const firstBackoffMs = 100;
const maxBackoffMs = 2_000;
const postTimeoutMs = 10_000;

/**
 * POSTs the sandbox's changes to a receiver like S-360's contact webhook, but without its losses: in order, at most
 * `batchSize` per POST, one POST in flight, retried with backoff (100 ms doubling to 2 s) until the receiver
 * answers 2xx. Nothing is dropped, unless `onRefused` is set and the receiver refuses a batch with a 4xx; the CRM
 * sandbox uses it that way, with its own signed body. {@link ChangeNotifier.close} stops it.
 */
export class ChangeNotifier<T extends { seq: number } = SandboxChange> {
  /** Changes with a seq up to this one have been delivered (or refused). */
  private deliveredSeq = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private closed = false;
  private inFlight: AbortController | undefined;
  private endPause: (() => void) | undefined;
  private idleWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  constructor(private readonly options: ChangeNotifierOptions<T>) {}

  /** Called after changes were appended: schedules a flush within ~50 ms. */
  notify(): void {
    if (this.closed || this.running || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, flushDelayMs);
  }

  /** Resolves once every change so far has been delivered (or refused); rejects if the notifier is closed first. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    if (this.closed) return Promise.reject(this.closedError());
    return new Promise((resolve, reject) => this.idleWaiters.push({ resolve, reject }));
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.endPause?.();
    this.inFlight?.abort();
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const waiter of waiters) waiter.reject(this.closedError());
  }

  private closedError(): Error {
    return new Error(`${this.options.owner ?? 'the S-360 sandbox'} was closed`);
  }

  private isIdle(): boolean {
    const last = this.options.changes.at(-1);
    return last === undefined || last.seq <= this.deliveredSeq;
  }

  private async run(): Promise<void> {
    this.running = true;
    let backoffMs = firstBackoffMs;
    try {
      while (!this.closed && !this.isIdle()) {
        const batch = this.pending();
        const outcome = await this.post(batch);
        if (outcome !== 'failed') {
          this.deliveredSeq = batch.at(-1)?.seq ?? this.deliveredSeq;
          if (outcome === 'delivered') this.options.onDelivered(batch.length);
          else this.options.onRefused?.(batch.length);
          backoffMs = firstBackoffMs;
          if (this.isIdle()) this.wakeIdleWaiters();
        } else {
          this.options.onFailed();
          await this.pause(backoffMs);
          backoffMs = Math.min(backoffMs * 2, maxBackoffMs);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private pending(): T[] {
    const { changes, batchSize } = this.options;
    // Seqs are 1-based and contiguous, so the next undelivered change sits at index deliveredSeq.
    return changes.slice(this.deliveredSeq, this.deliveredSeq + batchSize);
  }

  private async post(batch: T[]): Promise<'delivered' | 'refused' | 'failed'> {
    const controller = new AbortController();
    this.inFlight = controller;
    const timeout = setTimeout(() => controller.abort(), postTimeoutMs);
    try {
      const { body, headers } = this.options.request
        ? this.options.request(batch)
        : s360WebhookRequest(batch as readonly unknown[] as readonly SandboxChange[]);
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
        signal: controller.signal,
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) return 'delivered';
      const refusable = response.status >= 400 && response.status < 500;
      if (this.options.onRefused && refusable && response.status !== 408 && response.status !== 429) {
        return 'refused';
      }
      return 'failed';
    } catch {
      return 'failed';
    } finally {
      clearTimeout(timeout);
      this.inFlight = undefined;
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.endPause = () => {
        this.endPause = undefined;
        resolve();
      };
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.endPause?.();
      }, ms);
    });
  }

  private wakeIdleWaiters(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }
}
