import type { EntityManager } from 'typeorm';
import type { EventStore, LogCheckpoint, LogEvent } from '../event-store.js';

type Queryable = Pick<EntityManager, 'query'>;

interface Page {
  after: LogCheckpoint;
  events: LogEvent[];
}

/** What {@link SharedLogReader.read} answers. */
export interface LogRead {
  events: LogEvent[];
  /**
   * The events came from earlier reads: the log may have more by now, so the reader should ask
   * again before it idles.
   */
  shared: boolean;
}

/** Pages kept: enough for a slow projection to be several pages behind the fastest. */
const PAGES = 16;
/** How long a runner waits for another runner's read before it reads the log itself. */
const WAIT_FOR_READ_MS = 1_000;

/**
 * The global log as the projections of one process read it: runners at the same checkpoint (the
 * usual case, woken by the same append) share one read, so the log is read and parsed once per
 * batch instead of once per projection.
 *
 * A page read after checkpoint C holds every event of the log after C up to its last event (the
 * read is gap-safe). So a runner whose checkpoint lies inside a kept page takes its events from
 * it, and from the pages that follow on from there, up to its batch size: a projection slower
 * than the others catches up in full batches from pages they read. Only a runner at or past the
 * end of every page reads the log itself, on its own connection (no runner ever needs a second
 * connection), and that read becomes a page.
 *
 * The stored events are shared: projections must not change an event's `data` or `metadata`.
 */
export class SharedLogReader {
  /** The latest reads, newest first (some may still be in flight). */
  private pages: { after: LogCheckpoint; page: Promise<Page>; settled: boolean }[] = [];

  constructor(private readonly store: EventStore) {}

  /** Up to `limit` events after `after`, in log order (as {@link EventStore.readAll}). */
  async read(after: LogCheckpoint, limit: number, db: Queryable): Promise<LogRead> {
    for (let attempt = 1; ; attempt++) {
      const kept = this.pages;
      const events = await this.fromPages(after, limit);
      if (events.length > 0) return { events, shared: true };
      // Another runner began a read meanwhile: it may answer this one too (look a few times).
      if (this.pages !== kept && attempt < 4) continue;
      const page = this.store.readAll(after, limit, db).then((read) => {
        // An empty read answers nobody: it gives its place back to the pages that may.
        if (read.length === 0) this.pages = this.pages.filter((other) => other.page !== page);
        return { after, events: read };
      });
      const entry = { after, page, settled: false };
      void page.finally(() => (entry.settled = true)).catch(() => undefined);
      this.pages = [entry, ...this.pages.slice(0, PAGES - 1)];
      return { events: (await page).events, shared: false };
    }
  }

  /** Events after `after` from the kept pages, following on from one page to the next. */
  private async fromPages(after: LogCheckpoint, limit: number): Promise<LogEvent[]> {
    const events: LogEvent[] = [];
    for (let from = after; events.length < limit; from = events[events.length - 1]) {
      const page = await this.pageAfter(from);
      if (!page) break;
      const start = page.events.findIndex((event) => compare(event, from) > 0);
      events.push(...page.events.slice(start, start + limit - events.length));
    }
    return events;
  }

  /**
   * A kept page that starts at or before `from` and holds events after it. A read still in flight
   * is waited for at most {@link WAIT_FOR_READ_MS}: one stuck read must not stall every runner.
   */
  private async pageAfter(from: LogCheckpoint): Promise<Page | undefined> {
    for (const candidate of this.pages) {
      if (compare(from, candidate.after) < 0) continue;
      const page = candidate.settled
        ? await candidate.page.catch(() => undefined)
        : await settledWithin(candidate.page, WAIT_FOR_READ_MS);
      if (page?.events.length && compare(page.events[page.events.length - 1], from) > 0) {
        return page;
      }
    }
    return undefined;
  }
}

/** The page, or undefined if its read failed or is not done within `ms`. */
async function settledWithin(page: Promise<Page>, ms: number): Promise<Page | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([page.catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Log order: (transactionId, position). Transaction ids are xid8 values in decimal. */
function compare(a: LogCheckpoint, b: LogCheckpoint): number {
  const x = a.transactionId;
  const y = b.transactionId;
  if (x !== y) return x.length !== y.length ? x.length - y.length : x < y ? -1 : 1;
  return a.position - b.position;
}
