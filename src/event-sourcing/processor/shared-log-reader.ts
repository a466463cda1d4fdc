import type { EntityManager } from 'typeorm';
import type { EventStore, LogCheckpoint, LogEvent } from '../event-store.js';

type Queryable = Pick<EntityManager, 'query'>;

interface Page {
  after: LogCheckpoint;
  limit: number;
  events: LogEvent[];
}

/** What {@link SharedLogReader.read} answers. */
export interface LogRead {
  events: LogEvent[];
  /**
   * The events came from an earlier read: the log may have more by now, so the reader should ask
   * again before it idles.
   */
  shared: boolean;
}

/** Pages kept: enough for every runner of a process to be a page or two apart. */
const PAGES = 8;

/**
 * The global log as the projections of one process read it: runners at the same checkpoint (the
 * usual case, woken by the same append) share one read, so the log is read and parsed once per
 * batch instead of once per projection.
 *
 * A page read after `after` holds every event of the log after it up to its last event (the read is
 * gap-safe), so any runner whose checkpoint lies inside the page can take the events after its
 * checkpoint from it, when the page answers in full: `limit` events, or the page reached the end of
 * the log when it was read. A runner at or past the end of every page reads the log itself, on its
 * own connection (no runner ever needs a second connection), and that read becomes a page.
 *
 * The stored events are shared: projections must not change an event's `data` or `metadata`.
 */
export class SharedLogReader {
  /** The latest reads, newest first (some may still be in flight). */
  private pages: { after: LogCheckpoint; page: Promise<Page> }[] = [];

  constructor(private readonly store: EventStore) {}

  /** Up to `limit` events after `after`, in log order (as {@link EventStore.readAll}). */
  async read(after: LogCheckpoint, limit: number, db: Queryable): Promise<LogRead> {
    for (const candidate of this.pages) {
      if (compare(after, candidate.after) < 0) continue;
      const page = await candidate.page.catch(() => undefined);
      const events = page && serve(page, after, limit);
      if (events) return { events, shared: true };
    }
    const page = this.store.readAll(after, limit, db).then((events) => ({ after, limit, events }));
    this.pages = [{ after, page }, ...this.pages.slice(0, PAGES - 1)];
    return { events: (await page).events, shared: false };
  }
}

/** The events after `after` from `page`, if the page holds all of the next `limit` of them. */
function serve(page: Page, after: LogCheckpoint, limit: number): LogEvent[] | undefined {
  if (compare(after, page.after) < 0) return undefined;
  const start = page.events.findIndex((event) => compare(event, after) > 0);
  if (start === -1) return undefined;
  const events = page.events.slice(start, start + limit);
  return events.length === limit || page.events.length < page.limit ? events : undefined;
}

/** Log order: (transactionId, position). Transaction ids are xid8 values in decimal. */
function compare(a: LogCheckpoint, b: LogCheckpoint): number {
  const x = a.transactionId;
  const y = b.transactionId;
  if (x !== y) return x.length !== y.length ? x.length - y.length : x < y ? -1 : 1;
  return a.position - b.position;
}
