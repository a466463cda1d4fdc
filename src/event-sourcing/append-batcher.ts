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
}

/** Two batches at a time (one runs while the other commits), of up to 1,000 events. */
export const APPEND_BATCH_LIMITS: AppendBatcherLimits = { inFlight: 2, events: 1000 };

/**
 * Group commit for appends. An append is sent at once while fewer than `inFlight` batches are in
 * flight; otherwise it waits, and whatever waits is sent together as the next batch, as soon as
 * one ends. Alone, or at a low rate, an append therefore waits for nothing; under load, appends
 * share statements and commits, which saves a round trip, a transaction and a commit's WAL flush
 * per append and costs the wait for a batch in flight.
 *
 * A stream is in one batch at a time: an append to a stream that has one in flight waits for it
 * (they would conflict anyway), in the order they came. `send` runs a batch and answers for each
 * of its appends, in order.
 */
export class AppendBatcher<R extends Batchable, T> {
  private queue: Queued<R, T>[] = [];
  private inFlight = 0;
  /** The streams of the batches in flight. */
  private readonly busy = new Set<string>();

  constructor(
    private readonly send: (batch: R[]) => Promise<T>[],
    private readonly limits: AppendBatcherLimits = APPEND_BATCH_LIMITS,
  ) {}

  add(request: R): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < this.limits.inFlight) {
      const batch = this.take();
      if (batch.length === 0) return;
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        for (const queued of batch) this.busy.delete(queued.request.streamId);
        this.flush();
      });
    }
  }

  /** The next batch: waiting appends to streams not in flight, in order, up to the limit. */
  private take(): Queued<R, T>[] {
    const batch: Queued<R, T>[] = [];
    const rest: Queued<R, T>[] = [];
    // Streams with an append left waiting: their later appends wait too, to keep their order.
    const held = new Set<string>();
    let events = 0;
    for (const queued of this.queue) {
      const { streamId, events: own } = queued.request;
      const fits = batch.length === 0 || events + own.length <= this.limits.events;
      if (!fits || this.busy.has(streamId) || held.has(streamId)) {
        held.add(streamId);
        rest.push(queued);
        continue;
      }
      this.busy.add(streamId);
      batch.push(queued);
      events += own.length;
    }
    this.queue = rest;
    return batch;
  }

  private async run(batch: Queued<R, T>[]): Promise<void> {
    let results: Promise<T>[];
    try {
      results = this.send(batch.map((queued) => queued.request));
    } catch (error) {
      results = batch.map(() => Promise.reject(error));
    }
    batch.forEach((queued, i) => results[i].then(queued.resolve, queued.reject));
    await Promise.allSettled(results);
  }
}
