/** What the batcher needs of an append: its stream, and its events to count. */
export interface Batchable {
  streamId: string;
  events: readonly unknown[];
}

interface Queued<R, T> {
  request: R;
  resolve: (result: T) => void;
  reject: (error: unknown) => void;
}

export interface AppendBatcherLimits {
  /** Batches sent at a time; appends that arrive while they are all in flight wait. */
  inFlight: number;
  /** Events in a batch (an append of more is sent alone). */
  events: number;
  /**
   * A batch still in flight after this many ms no longer counts against `inFlight`: one that waits
   * for a lock (another transaction's uncommitted events of one of its streams) does not hold up
   * appends to other streams.
   */
  slowAfterMs: number;
}

/** Two batches at a time (one runs while the other commits), of up to 1,000 events. */
export const APPEND_BATCH_LIMITS: AppendBatcherLimits = {
  inFlight: 2,
  events: 1000,
  slowAfterMs: 50,
};

/**
 * Group commit for appends. An append is sent at once while fewer than `inFlight` batches are in
 * flight; otherwise it waits, and whatever waits is sent together as the next batch, as soon as
 * one ends. Alone, or at a low rate, an append therefore waits for nothing; under load, appends
 * share statements and commits, which saves a round trip, a transaction and a commit's WAL flush
 * per append and costs the wait for a batch in flight.
 *
 * A stream is in at most one batch, waiting or in flight: an append to a stream that has one
 * there is sent alone, at once (concurrent appends to one stream race, as they would without the
 * batcher; two of them in one statement would fail it whole). `send` runs a batch and answers for
 * each of its appends, in order.
 */
export class AppendBatcher<R extends Batchable, T> {
  private queue: Queued<R, T>[] = [];
  private inFlight = 0;
  /** The streams of the appends waiting or in flight in batches. */
  private readonly busy = new Set<string>();

  constructor(
    private readonly send: (batch: R[]) => Promise<T>[],
    private readonly limits: AppendBatcherLimits = APPEND_BATCH_LIMITS,
  ) {}

  add(request: R): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const queued = { request, resolve, reject };
      if (this.busy.has(request.streamId)) {
        this.run([queued], false);
        return;
      }
      this.busy.add(request.streamId);
      this.queue.push(queued);
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < this.limits.inFlight && this.queue.length > 0) {
      this.run(this.take(), true);
    }
  }

  /** The next batch: waiting appends in order, up to the limit (one too large goes alone). */
  private take(): Queued<R, T>[] {
    const batch: Queued<R, T>[] = [];
    const rest: Queued<R, T>[] = [];
    let events = 0;
    for (const queued of this.queue) {
      const size = queued.request.events.length;
      if (batch.length === 0 || events + size <= this.limits.events) {
        batch.push(queued);
        events += size;
      } else {
        rest.push(queued);
      }
    }
    this.queue = rest;
    return batch;
  }

  /**
   * Sends a batch, counted against `inFlight` (until it ends or turns slow) if `counted`, and
   * answers each append as soon as its own answer is there.
   */
  private run(batch: Queued<R, T>[], counted: boolean): void {
    let release = () => {};
    if (counted) {
      this.inFlight++;
      const timer = setTimeout(() => release(), this.limits.slowAfterMs);
      timer.unref();
      release = () => {
        release = () => {};
        clearTimeout(timer);
        this.inFlight--;
        this.flush();
      };
    }
    let results: Promise<T>[];
    try {
      results = this.send(batch.map((queued) => queued.request));
    } catch (error) {
      results = batch.map(() => Promise.reject(error));
    }
    let pending = batch.length;
    batch.forEach((queued, i) => {
      void results[i].then(queued.resolve, queued.reject).finally(() => {
        if (counted) this.busy.delete(queued.request.streamId);
        if (--pending === 0) release();
      });
    });
  }
}
