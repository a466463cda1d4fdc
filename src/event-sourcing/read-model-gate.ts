import { Inject, Injectable } from '@nestjs/common';
import { StaleReadModelError } from './errors.js';
import { EventStore } from './event-store.js';
import { EVENT_SOURCING_OPTIONS, type ResolvedEventSourcingOptions } from './options.js';
import { GlobalLogProcessor } from './processor/global-log-processor.js';

/**
 * Read-your-writes for query handlers. With a `minPosition` (the consistency token a command
 * answered) it waits until the read model has applied it, or throws StaleReadModelError. Without
 * one it waits briefly for this process's own last append, then answers with what is there.
 */
@Injectable()
export class ReadModelGate {
  constructor(
    private readonly processor: GlobalLogProcessor,
    private readonly store: EventStore,
    @Inject(EVENT_SOURCING_OPTIONS) private readonly options: ResolvedEventSourcingOptions,
  ) {}

  /** @throws StaleReadModelError when `minPosition` is not reached within `readWaitTimeoutMs`. */
  async waitFor(projection: string, minPosition?: number): Promise<void> {
    // 0 (no position yet) waits for nothing more than no minPosition does.
    if (minPosition) return this.processor.waitForPosition(projection, minPosition);
    const own = this.store.lastAppendedPosition;
    if (own === 0) return;
    try {
      await this.processor.waitForPosition(projection, own, this.options.ownWritesWaitMs);
    } catch (error) {
      if (!(error instanceof StaleReadModelError)) throw error;
    }
  }
}
