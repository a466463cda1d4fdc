import { Inject, Injectable, Optional } from '@nestjs/common';
import pg from 'pg';
import { DataSource, EntityManager } from 'typeorm';
import { v4 as uuidv4 } from 'uuid';
import { ConcurrencyError, TransactionOrderError, isConnectionError } from './errors.js';
import type { EventMetadata, JsonObject, StoredEvent } from './event-registry.js';
import { EVENT_SOURCING_OPTIONS, type ResolvedEventSourcingOptions } from './options.js';
import { AppendBatcher } from './append-batcher.js';
import { arrayParameter } from './array-parameter.js';
import { PreparedStatement } from './prepared-statement.js';
import { eventStoreTables, type EventStoreTables } from './tables.js';

/**
 * What the writer believes about the stream: an exact version (the version of its last event;
 * -1 is "no stream"), `no_stream`, `stream_exists` or `any`.
 */
export type ExpectedVersion = number | 'no_stream' | 'stream_exists' | 'any';

/** An event to append, already serialized. `eventId` makes a retried append idempotent. */
export interface NewEvent {
  eventId?: string;
  type: string;
  schemaVersion: number;
  data: JsonObject;
  metadata?: EventMetadata;
}

export interface AppendResult {
  /** Version of the stream's last event after the append. */
  version: number;
  /** Global position of the last event appended. */
  position: number;
  /** The appended events as stored, in the order given (`data` and `metadata` are the objects passed in). */
  events: StoredEvent[];
}

/** A point in the global log: the order is (transactionId, position), see ARCHITECTURE §2. */
export interface LogCheckpoint {
  transactionId: string;
  position: number;
}

export const LOG_START: LogCheckpoint = { transactionId: '0', position: 0 };

/** A row that holds a point in the log (pg gives a bigint as text). */
export interface CheckpointRow {
  transactionId: string;
  position: string | number;
}

export function toCheckpoint(row: CheckpointRow): LogCheckpoint {
  return { transactionId: row.transactionId, position: Number(row.position) };
}

export interface StreamRange {
  /** First version to read (inclusive). */
  fromVersion?: number;
  /** Last version to read (inclusive). */
  toVersion?: number;
  /** Only events recorded at or before this instant. */
  recordedUntil?: Date;
}

/** A stored event with its place in the global log. */
export interface LogEvent extends StoredEvent {
  transactionId: string;
}

// recorded_at as milliseconds since 1970, cut as a JavaScript Date cuts it (exact: extract gives a
// numeric from PostgreSQL 14 on). The driver parses a timestamp's text with a regular expression:
// 7% of the CPU profile of the rebuild benchmark, and garbage.
const RECORDED_MS = `floor(extract(epoch FROM recorded_at) * 1000)::float8 AS "recordedAt"`;
const COLUMNS = `event_id AS "eventId", stream_id AS "streamId", version, global_position AS "position",
  type, schema_version AS "schemaVersion", data, metadata, ${RECORDED_MS}`;

// The events' `data` and `metadata` go as one JSON array each, not as arrays of jsonb: pg writes
// an array parameter by quoting and escaping each element's JSON text, and PostgreSQL parses that
// literal before parsing each element; a JSON array is written and parsed once. Measured on
// batches of 80 events: a fifth less of Node's CPU, a tenth less time per statement. An event
// given no data is a JSON null there: `nullif` makes it the SQL NULL the column refuses, as an
// array of jsonb did (metadata is never null: the store gives {} for none).
const EVENT_JSON = (data: number, metadata: number) =>
  `jsonb_array_elements($${data}::jsonb), jsonb_array_elements($${metadata}::jsonb)`;

// One statement, one round trip: reads the stream's head through the unique index, checks the
// expectation and inserts every event, each column passed as an array (`data` and `metadata` as
// EVENT_JSON). A racing writer that inserts the same version first makes this one fail on unique
// (stream_id, version): that is the final guard. It returns only what the store assigns; the
// caller has the rest.
//
// In a caller's transaction (`inTransaction`), the transaction may hold an id from before the
// head's transaction got its own (it wrote something else first): its events would then come
// before the head in the log, which is in transaction id order, though their versions are later.
// So there it also checks that the head's transaction id is not above its own, and stores nothing
// otherwise. Elsewhere the statement's transaction gets its id after the head's committed.
const APPEND = (t: EventStoreTables, inTransaction: boolean) => `
INSERT INTO ${t.events} (stream_id, version, event_id, type, schema_version, data, metadata)
SELECT $1, head.v + e.i, e.event_id, e.type, e.schema_version, nullif(e.data, 'null'),
       e.metadata
FROM (SELECT coalesce(max(version), -1) AS v FROM ${t.events} WHERE stream_id = $1) AS head,
     ROWS FROM (unnest($2::uuid[], $3::text[], $4::int[]), ${EVENT_JSON(5, 6)})
       WITH ORDINALITY AS e(event_id, type, schema_version, data, metadata, i)
WHERE ($7::int IS NULL OR head.v = $7::int) AND (NOT $8::bool OR head.v >= 0)${
  inTransaction
    ? `
  AND coalesce((SELECT transaction_id FROM ${t.events} WHERE stream_id = $1 AND version = head.v),
               '0') <= pg_current_xact_id()`
    : ''
}
ORDER BY e.i
RETURNING version, global_position AS "position", ${RECORDED_MS}`;

// The head of a stream in a caller's transaction, and whether a transaction that got its id after
// this one's appended it (see APPEND).
const HEAD_IN_TRANSACTION = (t: EventStoreTables) => `SELECT version AS v,
    transaction_id > pg_current_xact_id() AS younger
  FROM ${t.events} WHERE stream_id = $1 ORDER BY version DESC LIMIT 1`;

// Several appends to distinct streams in one statement: the same head check and insert for each.
// The appends' own fields are arrays, append a at index a ($1-$3); their events' are arrays of
// every event in order ($4-$8; `data` and `metadata` as JSON arrays, $9-$10: EVENT_JSON), with
// the append each is in ($4) and its place in it ($5). An append whose expectation does not hold
// gets a null head, and none of its events is inserted; the others are stored all the same. The
// heads are read once per append, into an array.
//
// A batch whose insert waits for a lock (another transaction's uncommitted event at the same
// version of one of its streams: a caller's open transaction, say) waits at most
// BATCH_LOCK_TIMEOUT (or the session's lock_timeout, if shorter), set for this statement only
// (`lock_wait`: every row to insert joins it, and the sort reads them all before the first
// insert): it then fails, and each of its appends runs again alone, so that only the append at
// fault waits on, not the others of its batch. (A lock on the table itself is taken before.)
const BATCH_LOCK_TIMEOUT = '100ms';
const APPEND_SEVERAL = (t: EventStoreTables) => `
WITH lock_wait AS MATERIALIZED (
  SELECT set_config('lock_timeout', CASE WHEN current_setting('lock_timeout')::interval
    BETWEEN interval '1 ms' AND interval '${BATCH_LOCK_TIMEOUT}' THEN current_setting('lock_timeout')
    ELSE '${BATCH_LOCK_TIMEOUT}' END, true)
),
h AS MATERIALIZED (
  SELECT array_agg(CASE WHEN (r.expected IS NULL OR x.head = r.expected) AND (NOT r.must_exist OR x.head >= 0)
                   THEN x.head END ORDER BY r.a) AS heads
  FROM unnest($1::text[], $2::int[], $3::bool[]) WITH ORDINALITY AS r(stream_id, expected, must_exist, a)
  CROSS JOIN LATERAL (SELECT coalesce(max(version), -1) AS head FROM ${t.events} WHERE stream_id = r.stream_id) AS x
)
INSERT INTO ${t.events} (stream_id, version, event_id, type, schema_version, data, metadata)
SELECT ($1::text[])[e.a], h.heads[e.a] + e.i, e.event_id, e.type, e.schema_version,
       nullif(e.data, 'null'), e.metadata
FROM lock_wait, h,
     ROWS FROM (unnest($4::int[], $5::int[], $6::uuid[], $7::text[], $8::int[]), ${EVENT_JSON(9, 10)})
       AS e(a, i, event_id, type, schema_version, data, metadata)
WHERE h.heads[e.a] IS NOT NULL
ORDER BY e.a, e.i
RETURNING stream_id AS "streamId", version, global_position AS "position", ${RECORDED_MS}`;

// An instant `until` (milliseconds) takes the events whose recorded_at, as shown (cut to the
// millisecond, as RECORDED_MS cuts it), is at or before it: those before the next millisecond. The
// store records milliseconds, but a script's insert may give recorded_at in microseconds.
const RECORDED_UNTIL = (until: string) =>
  `recorded_at < ${until}::timestamptz + interval '1 millisecond'`;

const READ_STREAM = (t: EventStoreTables) => `SELECT ${COLUMNS} FROM ${t.events}
  WHERE stream_id = $1 AND version >= $2 AND version <= $3 AND ($4::timestamptz IS NULL OR ${RECORDED_UNTIL('$4')})
  ORDER BY version`;

// Gap-safe: only transactions older than every running one (pg_snapshot_xmin) are read, so an
// event whose transaction commits late is still ahead of the reader's checkpoint when it shows.
const READ_ALL = (
  t: EventStoreTables,
) => `SELECT ${COLUMNS}, transaction_id::text AS "transactionId" FROM ${t.events}
  WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
    AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  ORDER BY transaction_id, global_position
  LIMIT $3`;

// The last event the gap-safe read of the log can return now (READ_ALL's fence): every event up
// to it is visible and final, and every event that commits later comes after it.
const LOG_END = (t: EventStoreTables) => `SELECT transaction_id::text AS "transactionId",
    global_position AS "position" FROM ${t.events}
  WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  ORDER BY transaction_id DESC, global_position DESC LIMIT 1`;

// The log up to an end (LOG_END), stream by stream, each stream's events in version order: the
// unique index (stream_id, version), whose order the row comparison follows (stream_id has the
// database's collation, deterministic, as the unique constraint needs too).
const READ_BY_STREAM = (
  t: EventStoreTables,
) => `SELECT ${COLUMNS}, transaction_id::text AS "transactionId" FROM ${t.events}
  WHERE (stream_id, version) > ($1, $2::int)
    AND (transaction_id, global_position) <= ($3::xid8, $4::bigint)
  ORDER BY stream_id, version
  LIMIT $5`;

const BY_POSITIONS = (
  t: EventStoreTables,
) => `SELECT ${COLUMNS}, transaction_id::text AS "transactionId" FROM ${t.events}
  WHERE global_position = ANY($1::bigint[]) ORDER BY global_position`;

const BY_EVENT_IDS = (t: EventStoreTables) =>
  `SELECT ${COLUMNS} FROM ${t.events} WHERE event_id = ANY($1::uuid[]) ORDER BY version`;

const LAST_VERSION_AT = (t: EventStoreTables) =>
  `SELECT coalesce(max(version), -1) AS v FROM ${t.events} WHERE stream_id = $1 AND ${RECORDED_UNTIL('$2')}`;

const UNIQUE_VIOLATION = '23505';

type Queryable = Pick<EntityManager, 'query'>;

/** What an append's statement returns for each event (in no particular order). */
interface Assigned {
  version: number;
  position: string;
  recordedAt: number;
}

/** An append, ready for its statement. */
interface AppendRequest {
  streamId: string;
  events: NewEvent[];
  expected: ExpectedVersion;
  eventIds: string[];
  metadata: EventMetadata[];
  /** Only ids the caller chose can be stored already (a retry): new random ones cannot. */
  retried: boolean;
  /** The version the stream's last event must have (-1: no stream), or null for any. */
  exact: number | null;
  mustExist: boolean;
}

const LONE_SURROGATE = /\p{Cs}/u;

function appendRequest(
  streamId: string,
  events: NewEvent[],
  expected: ExpectedVersion,
): AppendRequest {
  // Sent as UTF-8, a lone surrogate would be stored as U+FFFD: under another id than the one given.
  if (LONE_SURROGATE.test(streamId)) throw new Error('a stream id must be well-formed Unicode');
  return {
    streamId,
    events,
    expected,
    eventIds: events.map((e) => e.eventId ?? uuidv4()),
    metadata: events.map((e) => e.metadata ?? {}),
    retried: events.some((e) => e.eventId !== undefined),
    exact: expected === 'no_stream' ? -1 : typeof expected === 'number' ? expected : null,
    mustExist: expected === 'stream_exists',
  };
}

/**
 * The append-only `events` table: appends with optimistic concurrency, stream reads and the
 * gap-safe read of the global log. Callers pass an `EntityManager` to run inside their transaction.
 */
@Injectable()
export class EventStore {
  /** Global position of the last event this process appended (0 before any). */
  lastAppendedPosition = 0;
  /** The SQL names of the event store's tables (option `schema`). */
  readonly tables: EventStoreTables;
  private readonly appendListeners = new Set<(position: number) => void>();
  private readonly sql: Record<
    | 'append'
    | 'appendInTransaction'
    | 'headInTransaction'
    | 'appendSeveral'
    | 'readStream'
    | 'readAll'
    | 'logEnd'
    | 'readByStream'
    | 'byPositions'
    | 'byEventIds'
    | 'lastVersionAt'
    | 'streamVersion'
    | 'countAfter'
    | 'anyStored',
    string
  >;
  /** The statements of every command, and the log's read, run prepared (see PreparedStatement). */
  private readonly prepared: Record<
    'append' | 'appendInTransaction' | 'appendSeveral' | 'readStream' | 'readAll',
    PreparedStatement
  >;
  private readonly batcher = new AppendBatcher<AppendRequest, AppendResult>((requests) =>
    this.sendTogether(requests),
  );

  constructor(
    private readonly dataSource: DataSource,
    @Optional()
    @Inject(EVENT_SOURCING_OPTIONS)
    options?: Pick<ResolvedEventSourcingOptions, 'schema'>,
  ) {
    const t = (this.tables = eventStoreTables(options?.schema));
    this.sql = {
      append: APPEND(t, false),
      appendInTransaction: APPEND(t, true),
      headInTransaction: HEAD_IN_TRANSACTION(t),
      appendSeveral: APPEND_SEVERAL(t),
      readStream: READ_STREAM(t),
      readAll: READ_ALL(t),
      logEnd: LOG_END(t),
      readByStream: READ_BY_STREAM(t),
      byPositions: BY_POSITIONS(t),
      byEventIds: BY_EVENT_IDS(t),
      lastVersionAt: LAST_VERSION_AT(t),
      streamVersion: `SELECT coalesce(max(version), -1) AS v FROM ${t.events} WHERE stream_id = $1`,
      countAfter: `SELECT count(*) AS n FROM ${t.events} WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)`,
      anyStored: `SELECT count(*) AS n FROM ${t.events} WHERE event_id = ANY($1::uuid[])`,
    };
    this.prepared = {
      append: new PreparedStatement(this.sql.append),
      appendInTransaction: new PreparedStatement(this.sql.appendInTransaction),
      appendSeveral: new PreparedStatement(this.sql.appendSeveral),
      readStream: new PreparedStatement(this.sql.readStream),
      readAll: new PreparedStatement(this.sql.readAll),
    };
  }

  /**
   * Appends events to a stream, atomically, in one statement. Through the pool (no `db`), appends
   * that arrive while others are in flight are sent together: see {@link AppendBatcher}.
   * @throws ConcurrencyError when the stream is not at `expected` (nothing is appended). An append
   * whose event ids are all already stored in this stream succeeds and returns the stored events.
   * In a caller's transaction (`db`, its EntityManager): a {@link TransactionOrderError} (a kind of
   * ConcurrencyError) when another transaction that got its id after this one's appended to the
   * stream; so append before writing anything else in it. A lost race aborts that transaction (or
   * its savepoint).
   */
  async append(
    streamId: string,
    events: NewEvent[],
    expected: ExpectedVersion,
    db: Queryable = this.dataSource,
  ): Promise<AppendResult> {
    if (events.length === 0) throw new Error('append needs at least one event');
    const request = appendRequest(streamId, events, expected);
    if (db !== this.dataSource && db !== this.dataSource.manager)
      return this.appendOne(request, db);
    return this.batcher.add(request);
  }

  /**
   * One append in a statement of its own, retried as its expectation says. In a caller's
   * transaction (any `db` but the DataSource), never retried: a lost race has aborted that
   * transaction (or its savepoint), and the append throws a ConcurrencyError without the stream's
   * version; a retried append (ids the caller chose) looks for its events first, as it cannot
   * after the insert fails.
   */
  private async appendOne(request: AppendRequest, db: Queryable): Promise<AppendResult> {
    const { streamId, events, eventIds, exact } = request;
    const inTransaction = db !== this.dataSource;
    const statement = inTransaction ? this.prepared.appendInTransaction : this.prepared.append;
    // Writers that do not name a version retry until they get one: each race has a winner, so
    // the bound only stops a livelock; the back-off spreads the writers out.
    const retriesOnRace = exact === null && !inTransaction ? 1000 : 0;
    if (inTransaction && request.retried) {
      const already = await this.alreadyAppended(streamId, eventIds, db);
      if (already) return this.stored(already);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const assigned = await statement.rows<Assigned>(
          this.dataSource,
          [
            streamId,
            arrayParameter(eventIds),
            arrayParameter(events.map((e) => e.type)),
            arrayParameter(events.map((e) => e.schemaVersion)),
            JSON.stringify(events.map((e) => e.data)),
            JSON.stringify(request.metadata),
            exact,
            request.mustExist,
          ],
          db,
        );
        if (assigned.length > 0) return this.appended(request, assigned);
      } catch (error) {
        if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
        if (inTransaction) throw new ConcurrencyError(streamId, request.expected);
        if (attempt < retriesOnRace && !(request.retried && (await this.anyStored(eventIds, db)))) {
          // Another writer took the next version: read the new head and try again.
          if (attempt > 2)
            await new Promise((resolve) =>
              setTimeout(resolve, Math.random() * Math.min(attempt, 20)),
            );
          continue;
        }
      }
      return this.notAppended(request, db);
    }
  }

  /**
   * The appends of one of the batcher's batches (distinct streams): alone, or in one statement.
   * Where that statement fails otherwise than by losing its connection, each append runs again
   * alone, so that only those at fault fail. An error of the server (a constraint, bad data, a lost
   * race, a lock or statement timeout...) means it stored nothing. Any other (a value that does
   * not serialize, a client-side timeout) may have come after the commit: those runs are retries,
   * whose insert, if it fails, looks for their events by id and answers with them (no event is
   * stored twice either way: event ids are unique). A lost or refused connection fails them all
   * alike, as it fails an append alone.
   */
  private sendTogether(requests: AppendRequest[]): Promise<AppendResult>[] {
    if (requests.length === 1) return [this.appendOne(requests[0], this.dataSource)];
    const sent = this.appendSeveral(requests);
    return requests.map(async (request, a) => {
      let assigned: Assigned[] | undefined;
      try {
        assigned = (await sent)[a];
      } catch (error) {
        if (isConnectionError(error)) throw error;
        const refused = error instanceof pg.DatabaseError;
        return this.appendOne(refused ? request : { ...request, retried: true }, this.dataSource);
      }
      if (assigned) return this.appended(request, assigned);
      return this.notAppended(request, this.dataSource);
    });
  }

  /**
   * Several appends to distinct streams in one statement (one round trip, one commit), each
   * checked against its own expectation: returns, for each, what the store assigned to its events,
   * or nothing where its expectation did not hold (none of its events is stored then).
   * @throws what the statement throws; then nothing of any of them is stored.
   */
  private async appendSeveral(requests: AppendRequest[]): Promise<(Assigned[] | undefined)[]> {
    // Inserted in the order of their streams' ids: two processes' batches on the same streams then
    // wait for each other's rows in the same order, never in a cycle (a deadlock).
    const ordered = [...requests].sort((x, y) =>
      x.streamId < y.streamId ? -1 : x.streamId > y.streamId ? 1 : 0,
    );
    const of: number[] = [];
    const index: number[] = [];
    const eventIds: string[] = [];
    const types: string[] = [];
    const schemaVersions: number[] = [];
    const data: JsonObject[] = [];
    const metadata: EventMetadata[] = [];
    ordered.forEach((request, a) => {
      request.events.forEach((event, i) => {
        of.push(a + 1);
        index.push(i + 1);
        eventIds.push(request.eventIds[i]);
        types.push(event.type);
        schemaVersions.push(event.schemaVersion);
        data.push(event.data);
        metadata.push(request.metadata[i]);
      });
    });
    const rows = await this.prepared.appendSeveral.rows<Assigned & { streamId: string }>(
      this.dataSource,
      [
        arrayParameter(ordered.map((r) => r.streamId)),
        arrayParameter(ordered.map((r) => r.exact)),
        arrayParameter(ordered.map((r) => r.mustExist)),
        arrayParameter(of),
        arrayParameter(index),
        arrayParameter(eventIds),
        arrayParameter(types),
        arrayParameter(schemaVersions),
        JSON.stringify(data),
        JSON.stringify(metadata),
      ],
    );
    const byStream = new Map<string, Assigned[]>();
    for (const row of rows) {
      const assigned = byStream.get(row.streamId);
      if (assigned) assigned.push(row);
      else byStream.set(row.streamId, [row]);
    }
    return requests.map((r) => byStream.get(r.streamId));
  }

  /** Events of one stream in version order. */
  async readStream(
    streamId: string,
    range: StreamRange = {},
    db: Queryable = this.dataSource,
  ): Promise<StoredEvent[]> {
    const rows = await this.prepared.readStream.rows<EventRow>(
      this.dataSource,
      [
        streamId,
        range.fromVersion ?? 0,
        range.toVersion ?? 2147483647,
        range.recordedUntil ?? null,
      ],
      db,
    );
    return rows.map(toEvent);
  }

  /** Version of the stream's last event recorded at or before `instant`; -1 when none was. */
  async lastVersionAt(
    streamId: string,
    instant: Date,
    db: Queryable = this.dataSource,
  ): Promise<number> {
    const [row] = await db.query(this.sql.lastVersionAt, [streamId, instant]);
    return Number(row.v);
  }

  /** Version of a stream's last event, -1 when the stream does not exist. */
  async streamVersion(streamId: string, db: Queryable = this.dataSource): Promise<number> {
    const [row] = await db.query(this.sql.streamVersion, [streamId]);
    return Number(row.v);
  }

  /**
   * Up to `limit` events of the global log after `after`, gap-safe: only events of transactions
   * older than every transaction still running are returned, so an event that commits late is
   * never skipped. Ordered by (transactionId, position), which is also the checkpoint order.
   */
  async readAll(
    after: LogCheckpoint,
    limit: number,
    db: Queryable = this.dataSource,
  ): Promise<LogEvent[]> {
    const { parameters } = this.readAllStatement(after, limit);
    return this.logEvents(await this.prepared.readAll.rows(this.dataSource, parameters, db));
  }

  /**
   * The statement {@link readAll} runs, for a caller that sends it itself (in a pipeline): fixed
   * text, to be run prepared.
   */
  readAllStatement(after: LogCheckpoint, limit: number): { sql: string; parameters: unknown[] } {
    return { sql: this.sql.readAll, parameters: [after.transactionId, after.position, limit] };
  }

  /**
   * Where the gap-safe read of the log ({@link readAll}) ends now: every event up to it is
   * visible and final, and any event that commits later comes after it. LOG_START if none.
   */
  async logEnd(db: Queryable = this.dataSource): Promise<LogCheckpoint> {
    const [row] = await db.query(this.sql.logEnd);
    return row ? toCheckpoint(row) : LOG_START;
  }

  /**
   * Up to `limit` events of the log up to `end` (see {@link logEnd}), stream by stream (by stream
   * id), each stream's in version order, after the event at `after` (from the first if none).
   */
  async readByStream(
    after: Pick<LogEvent, 'streamId' | 'version'> | undefined,
    end: LogCheckpoint,
    limit: number,
    db: Queryable = this.dataSource,
  ): Promise<LogEvent[]> {
    const rows = await db.query(this.sql.readByStream, [
      after?.streamId ?? '',
      after?.version ?? -1,
      end.transactionId,
      end.position,
      limit,
    ]);
    return this.logEvents(rows);
  }

  /** The events of the rows of {@link readAllStatement}. */
  logEvents(rows: unknown[]): LogEvent[] {
    return (rows as EventRow[]).map(toEvent) as LogEvent[];
  }

  /** The events at these global positions (those that exist and are visible). */
  async readPositions(positions: number[], db: Queryable = this.dataSource): Promise<LogEvent[]> {
    return (await db.query(this.sql.byPositions, [positions])).map(toEvent) as LogEvent[];
  }

  /** Committed events after a checkpoint (the lag of a reader at that checkpoint). */
  async countAfter(after: LogCheckpoint, db: Queryable = this.dataSource): Promise<number> {
    const [row] = await db.query(this.sql.countAfter, [after.transactionId, after.position]);
    return Number(row.n);
  }

  private async anyStored(eventIds: string[], db: Queryable): Promise<boolean> {
    const [row] = await db.query(this.sql.anyStored, [eventIds]);
    return Number(row.n) > 0;
  }

  /** The stored events with these ids, in stream version order. */
  async readEvents(eventIds: string[], db: Queryable = this.dataSource): Promise<StoredEvent[]> {
    return (await db.query(this.sql.byEventIds, [eventIds])).map(toEvent);
  }

  private async alreadyAppended(
    streamId: string,
    eventIds: string[],
    db: Queryable,
  ): Promise<StoredEvent[] | undefined> {
    const stored = await this.readEvents(eventIds, db);
    const sameStream = stored.every((e) => e.streamId === streamId);
    return stored.length === eventIds.length && sameStream ? stored : undefined;
  }

  /**
   * Calls `listener` after each append of this process, with the global position of its last
   * event; returns the unsubscribe function.
   */
  onAppend(listener: (position: number) => void): () => void {
    this.appendListeners.add(listener);
    return () => this.appendListeners.delete(listener);
  }

  /** What an append that stored nothing answers: the events already stored, or a conflict. */
  private async notAppended(request: AppendRequest, db: Queryable): Promise<AppendResult> {
    const { streamId, eventIds, expected } = request;
    const already = request.retried && (await this.alreadyAppended(streamId, eventIds, db));
    if (already) return this.stored(already);
    if (db === this.dataSource)
      throw new ConcurrencyError(streamId, expected, await this.streamVersion(streamId, db));
    const [head] = await db.query(this.sql.headInTransaction, [streamId]);
    const version: number = head ? head.v : -1;
    // The order is the reason only where the expectation holds.
    const holds =
      (request.exact === null || version === request.exact) && (!request.mustExist || version >= 0);
    if (holds && head?.younger) throw new TransactionOrderError(streamId, expected, version);
    throw new ConcurrencyError(streamId, expected, version);
  }

  /** The result of an append whose events the store has just assigned (in any order). */
  private appended(request: AppendRequest, assigned: Assigned[]): AppendResult {
    // Event i got version head + 1 + i: version order is the order given.
    assigned.sort((a, b) => a.version - b.version);
    return this.stored(
      assigned.map((row, i) => ({
        eventId: request.eventIds[i],
        streamId: request.streamId,
        version: row.version,
        position: Number(row.position),
        type: request.events[i].type,
        schemaVersion: request.events[i].schemaVersion,
        data: request.events[i].data,
        metadata: request.metadata[i],
        recordedAt: new Date(row.recordedAt),
      })),
    );
  }

  private stored(stored: StoredEvent[]): AppendResult {
    const last = stored[stored.length - 1];
    this.lastAppendedPosition = Math.max(this.lastAppendedPosition, last.position);
    for (const listener of this.appendListeners) listener(last.position);
    return { version: last.version, position: last.position, events: stored };
  }
}

type EventRow = Omit<StoredEvent, 'position' | 'recordedAt'> & {
  position: string;
  recordedAt: number;
  transactionId?: string;
};

// Events built field by field, all of one shape (the transaction id is set where the read selects
// it, the log's): spreading the driver's rows cost a rebuild about a tenth of its time, in copying
// and garbage collection.
function toEvent(r: EventRow): StoredEvent & { transactionId?: string } {
  return {
    eventId: r.eventId,
    streamId: r.streamId,
    version: Number(r.version),
    position: Number(r.position),
    type: r.type,
    schemaVersion: Number(r.schemaVersion),
    data: r.data,
    metadata: r.metadata,
    recordedAt: new Date(r.recordedAt),
    transactionId: r.transactionId,
  };
}
