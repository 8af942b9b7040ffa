/** One change of an S-360 sandbox contact, as the change feed lists it. */
export interface SandboxChange {
  seq: number;
  contactNumber: string;
  changeType: 'CREATED' | 'UPDATED';
  modifiedAt: string;
}

export interface ChangeNotifierOptions {
  url: string;
  batchSize: number;
  /** The changes so far, in order; the notifier reads it and never changes it. */
  changes: readonly SandboxChange[];
  /** Called once per successful POST with the number of changes it carried. */
  onDelivered(changes: number): void;
  /** Called once per failed POST. */
  onFailed(): void;
}

const flushDelayMs = 50;
const firstBackoffMs = 100;
const maxBackoffMs = 2_000;
const postTimeoutMs = 10_000;

/**
 * POSTs the sandbox's changes to a receiver like S-360's contact webhook, but without its losses: in order, at most
 * `batchSize` per POST, one POST in flight, retried with backoff (100 ms doubling to 2 s) until the receiver
 * answers 2xx. Nothing is dropped; {@link ChangeNotifier.close} stops it.
 */
export class ChangeNotifier {
  /** Changes with a seq up to this one have been delivered. */
  private deliveredSeq = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private closed = false;
  private inFlight: AbortController | undefined;
  private endPause: (() => void) | undefined;
  private idleWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  constructor(private readonly options: ChangeNotifierOptions) {}

  /** Called after changes were appended: schedules a flush within ~50 ms. */
  notify(): void {
    if (this.closed || this.running || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, flushDelayMs);
  }

  /** Resolves once every change so far has been delivered; rejects if the notifier is closed first. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('the S-360 sandbox was closed'));
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
    for (const waiter of waiters) waiter.reject(new Error('the S-360 sandbox was closed'));
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
        if (await this.post(batch)) {
          this.deliveredSeq = batch.at(-1)?.seq ?? this.deliveredSeq;
          this.options.onDelivered(batch.length);
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

  private pending(): SandboxChange[] {
    const { changes, batchSize } = this.options;
    // Seqs are 1-based and contiguous, so the next undelivered change sits at index deliveredSeq.
    return changes.slice(this.deliveredSeq, this.deliveredSeq + batchSize);
  }

  private async post(batch: SandboxChange[]): Promise<boolean> {
    const controller = new AbortController();
    this.inFlight = controller;
    const timeout = setTimeout(() => controller.abort(), postTimeoutMs);
    try {
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          contacts: batch.map(({ contactNumber, changeType, modifiedAt }) => ({
            contactNumber,
            changeType,
            modifiedAt,
          })),
        }),
        signal: controller.signal,
      });
      await response.arrayBuffer().catch(() => undefined);
      return response.ok;
    } catch {
      return false;
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
