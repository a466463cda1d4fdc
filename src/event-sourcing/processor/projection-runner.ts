import { Logger } from '@nestjs/common';
import pg from 'pg';
import utils from 'pg/lib/utils.js';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { EventSchemaError, isConnectionError } from '../errors.js';
import type { EventClass, EventEnvelope, EventRegistry } from '../event-registry.js';
import {
  LOG_START,
  toCheckpoint,
  type CheckpointRow,
  type EventStore,
  type LogCheckpoint,
  type LogEvent,
} from '../event-store.js';
import type { ResolvedEventSourcingOptions } from '../options.js';
import {
  failsStatementOnly,
  lostPreparedStatement,
  PreparedStatement,
  preparedOn,
  statementName,
} from '../prepared-statement.js';
import {
  DeferredWrites,
  type DeferredWrite,
  type ProjectionHandler,
  type ProjectionOptions,
} from '../projection.js';
import { eventStoreTables, type EventStoreTables } from '../tables.js';
import type { SharedLogReader } from './shared-log-reader.js';

export type ProjectionStatus = 'running' | 'rebuilding' | 'stopped' | 'failing';

/** A named projection: its handlers share one checkpoint and one transaction per batch. */
export interface ProjectionDefinition extends Required<ProjectionOptions> {
  handlers: { instance: ProjectionHandler; events: EventClass[] }[];
}

// Advisory locks do not give the transaction an id, so a processor waiting on its handlers does
// not hold back the pg_snapshot_xmin fence of the others. The first key namespaces ours.
const LOCK_NAMESPACE = 7_265_002;
// Every transaction of a runner starts with the lock, and with its settings (TRANSACTION_SETTINGS).
// Its commit need not wait for the WAL flush (synchronous_commit off): a batch lost in a crash is
// lost with its checkpoint, and is read again. Commits stop queueing behind the writers' flushes.
// And no JIT: PostgreSQL compiles a plan whose estimated cost passes jit_above_cost at each run
// (5-25 ms here), as a set-based write of a rebuild's page over many accounts can estimate,
// where the statement itself takes 10-20 ms.
const TRANSACTION_SETTINGS = `set_config('synchronous_commit', 'off', true), set_config('jit', 'off', true)`;
const LOCK = `SELECT ${TRANSACTION_SETTINGS}, pg_advisory_xact_lock(${LOCK_NAMESPACE}, hashtext($1))`;
// A batch opens its transaction, tries the lock (with the settings LOCK sets) and,
// in a statement of its own, reads the checkpoint and the streams held back behind a parked
// event: its snapshot must postdate the lock, or it could miss what the lock's last holder
// committed (a checkpoint, parked or unparked streams). One simple query, so one round trip: in
// READ COMMITTED (set here whatever the database's default) each of its statements takes a
// snapshot of its own. Literals, since a simple query has no parameters.
const OPEN_BATCH = (t: EventStoreTables, name: string) => `BEGIN ISOLATION LEVEL READ COMMITTED;
  SELECT ${TRANSACTION_SETTINGS},
    pg_try_advisory_xact_lock(${LOCK_NAMESPACE}, hashtext(${pg.escapeLiteral(name)})) AS locked;
  SELECT transaction_id::text AS "transactionId", global_position AS "position",
    ARRAY(SELECT DISTINCT stream_id FROM ${t.parked} WHERE projection = ${pg.escapeLiteral(name)}) AS held
  FROM ${t.checkpoints} WHERE name = ${pg.escapeLiteral(name)}`;
// Moves the checkpoint of a batch from where the batch found it and commits, in one round trip.
// If the checkpoint moved meanwhile (only something outside the lock can do that, such as a manual
// reset) no row is updated and the division by zero fails the statement: PostgreSQL then skips the
// COMMIT and the transaction is left to roll back.
const ADVANCE_AND_COMMIT = (
  t: EventStoreTables,
  name: string,
  from: LogCheckpoint,
  to: LogCheckpoint,
) => `WITH moved AS (
    UPDATE ${t.checkpoints} SET transaction_id = ${xid8(to)}, global_position = ${position(to)},
      updated_at = now()
    WHERE name = ${pg.escapeLiteral(name)} AND transaction_id = ${xid8(from)}
      AND global_position = ${position(from)} RETURNING 1)
  SELECT 1 / count(*)::int AS moved FROM moved;
  COMMIT`;
const DIVISION_BY_ZERO = '22012';
const QUERY_CANCELED = '57014';

/**
 * Errors that are no fault of the events: losing the database, or a cancelled statement (an
 * operator, statement_timeout). They end a rebuild instead of parking an event.
 */
function endsRebuild(error: unknown): boolean {
  return isConnectionError(error) || (error as { code?: unknown }).code === QUERY_CANCELED;
}

/** A replay without savepoints failed on its events: a handler threw, or an event is unreadable. */
class EventsFailed extends Error {
  constructor(cause: unknown) {
    super(messageOf(cause), { cause });
  }
}
// Moves the checkpoint past events none of the projection's handlers take, outside any batch
// transaction: only if it is still where this runner last left it, and only with the projection's
// lock (a batch or a rebuild in another process holds it, and must not see its checkpoint move).
// Autocommit: the lock is released at the statement's end, and the commit need not wait for the
// WAL flush, as a batch's does not. The subquery is volatile, so it is evaluated, once.
const SKIP = (t: EventStoreTables) => `WITH moved AS (
    UPDATE ${t.checkpoints} SET transaction_id = $2::xid8, global_position = $3, updated_at = now()
    FROM (SELECT set_config('synchronous_commit', 'off', true),
      pg_try_advisory_xact_lock(${LOCK_NAMESPACE}, hashtext($1)) AS locked) AS config
    WHERE config.locked AND name = $1 AND transaction_id = $4::xid8 AND global_position = $5
    RETURNING 1)
  SELECT count(*)::int AS moved FROM moved`;
const MOVE_CHECKPOINT = (t: EventStoreTables) => `UPDATE ${t.checkpoints}
  SET transaction_id = $2::xid8, global_position = $3, updated_at = now() WHERE name = $1`;
const PARK = (
  t: EventStoreTables,
) => `INSERT INTO ${t.parked} (projection, global_position, stream_id, error, attempts)
  VALUES ($1, $2, $3, $4, $5) ON CONFLICT (projection, global_position) DO UPDATE SET error = EXCLUDED.error`;
const PARKED_STREAMS = (t: EventStoreTables) =>
  `SELECT DISTINCT stream_id AS "streamId" FROM ${t.parked} WHERE projection = $1`;
const HELD_BACK = 'held back: an earlier event of its stream is parked';

/**
 * Feeds one projection from the global log. Each batch is one transaction: take the projection's
 * advisory lock (skip if another process holds it), read the events after the checkpoint behind
 * the `pg_snapshot_xmin` fence (through the process's {@link SharedLogReader}), await every
 * handler, move the checkpoint, commit.
 *
 * A failing batch is retried with back-off, then event by event; an event that keeps failing (or
 * cannot be read) is parked for this projection only, or stops it (`onPoison`).
 */
export class ProjectionRunner {
  lastError?: string;
  private state: ProjectionStatus = 'stopped';
  private readonly logger: Logger;
  private readonly byType = new Map<string, ProjectionHandler[]>();
  private stopping = false;
  private pending = false;
  /** The last batch came from a shared read, which may be behind the log. */
  private mayHaveMore = false;
  /** Rebuilds asked of this runner that have not ended (running, or waiting their turn). */
  private rebuilds = 0;
  /** The last batch applied events this projection handles (see processBatch). */
  private appliedLast = false;
  /** The highest global position this runner has read, and the highest it was woken for. */
  private seenUpTo = 0;
  private wokenFor = 0;
  /** The highest it was woken for before the batch in flight began (see processBatch). */
  private wokenBefore = 0;
  /** The last batch's commit also read the log again, opening the next batch (withCheckpoint). */
  private lookedAfter = false;
  /**
   * The checkpoint as this runner last read or moved it. Anything else may have moved it since (a
   * runner of another process, a rebuild): it is only used where a moved checkpoint is detected.
   */
  private known?: LogCheckpoint;
  private wakeUp?: () => void;
  private loop?: Promise<void>;
  /** The loop's batch in flight has run past `batchStuckAfterMs` (see stuck). */
  private stuckBatch = false;
  /** The end of the last rebuild or retry asked of this runner: they run one at a time. */
  private adminTail: Promise<unknown> = Promise.resolve();
  /** The next batch's transaction, opened by the last batch's closing round trip. */
  private chained?: OpenedBatch;
  private readonly skip: PreparedStatement;
  private readonly sql: Record<
    | 'openBatch'
    | 'moveCheckpoint'
    | 'park'
    | 'parkedStreams'
    | 'parkedOfStream'
    | 'unpark'
    | 'unparkStream',
    string
  >;
  private readonly tables: EventStoreTables;

  constructor(
    readonly definition: ProjectionDefinition,
    private readonly dataSource: DataSource,
    private readonly store: EventStore,
    private readonly reader: SharedLogReader,
    private readonly registry: EventRegistry,
    private readonly options: ResolvedEventSourcingOptions,
    private readonly onAdvance: (name: string) => void,
    /** After every batch, and whenever `status` changes. */
    private readonly onStatus: () => void = () => undefined,
  ) {
    this.logger = new Logger(`Projection ${definition.name}`);
    const t = eventStoreTables(options.schema);
    this.tables = t;
    this.skip = new PreparedStatement(SKIP(t));
    this.sql = {
      openBatch: OPEN_BATCH(t, definition.name),
      moveCheckpoint: MOVE_CHECKPOINT(t),
      park: PARK(t),
      parkedStreams: PARKED_STREAMS(t),
      parkedOfStream: `SELECT global_position AS position FROM ${t.parked}
             WHERE projection = $1 AND stream_id = $2 ORDER BY global_position`,
      unpark: `DELETE FROM ${t.parked} WHERE projection = $1`,
      unparkStream: `DELETE FROM ${t.parked} WHERE projection = $1 AND stream_id = $2`,
    };
  }

  get name(): string {
    return this.definition.name;
  }

  get running(): boolean {
    return this.loop !== undefined;
  }

  get status(): ProjectionStatus {
    return this.state;
  }

  private set status(status: ProjectionStatus) {
    this.state = status;
    this.onStatus();
  }

  /** A rebuild of this process is in progress (whether or not this runner runs). */
  get isRebuilding(): boolean {
    return this.rebuilds > 0;
  }

  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.status = this.isRebuilding ? 'rebuilding' : 'running';
    this.loop = this.run();
  }

  /**
   * Stops after the batch in flight (if any) has committed or rolled back; rolls back the next
   * one's transaction if that batch opened it.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.loop;
    await this.endChain();
    this.loop = undefined;
    this.status = 'stopped';
  }

  /**
   * New events may be there: run now instead of at the next poll. `position`: the global position
   * of the append that wakes it, if known (an append of this process).
   */
  wake(position = Infinity): void {
    this.pending = true;
    if (position > this.wokenFor) this.wokenFor = position;
    this.wakeUp?.();
  }

  /**
   * Rebuilds the read model in one transaction: empty its tables, reset its checkpoint, replay the
   * log into them, commit. Readers see the old rows until the new ones replace them at once (no
   * TRUNCATE, which would block them). Waits for a batch in flight in any process; other
   * processes skip this projection meanwhile. Events that fail are parked, not retried: a replay
   * that fails on an event is rolled back and run again with a savepoint around each page, then
   * around each event of a page that fails. Savepoints cost round trips, and past 64 that write
   * in one transaction, other sessions' visibility checks fall back to pg_subtrans until it ends.
   */
  rebuild(): Promise<void> {
    // Rebuilding from now on, though it may wait its turn (see oneAtATime). A stuck batch holds
    // the lock this rebuild waits for: it stays the status shown.
    this.rebuilds += 1;
    if (this.running && !this.stuckBatch) this.status = 'rebuilding';
    return this.oneAtATime(async () => {
      try {
        await this.endIdleChain();
        await this.replay(false).catch((error: unknown) => {
          if (!(error instanceof EventsFailed)) throw error;
          this.logger.warn(
            `rebuild failed on an event, replaying again to park it: ${error.message}`,
          );
          return this.replay(true);
        });
      } finally {
        this.rebuilds -= 1;
        this.known = undefined;
        if (!this.isRebuilding && this.running && this.status === 'rebuilding') {
          this.status = 'running';
        }
      }
      this.onAdvance(this.name);
      this.wake();
    });
  }

  /**
   * Runs rebuilds and retries of this runner one after the other. Each holds a pooled connection
   * while it waits for the projection's lock: callers that came meanwhile wait here instead, on
   * none (with a batch stuck on the lock, each would otherwise take one for good).
   */
  private oneAtATime<T>(work: () => Promise<T>): Promise<T> {
    const run = this.adminTail.then(work, work);
    this.adminTail = run.catch(() => undefined);
    return run;
  }

  /** One replay of the log into emptied tables ({@link rebuild}); `park`: savepoints, parking. */
  private replay(park: boolean): Promise<void> {
    return this.inTransaction(async (runner) => {
      await runner.query(LOCK, [this.name]);
      for (const table of this.definition.tables) {
        await runner.manager.createQueryBuilder().delete().from(table).execute();
      }
      await runner.query(this.sql.unpark, [this.name]);
      // Nothing is parked now, and only this transaction parks for the projection until it ends.
      const held = new Set<string>();
      const pageSize = this.options.rebuildPageSize;
      // A projection whose rows each follow one stream replays stream by stream, up to where the
      // log ends now, which becomes its checkpoint: the events that commit meanwhile come after
      // it, for the batches that follow the rebuild.
      const end = this.definition.rebuildByStream
        ? await this.store.logEnd(runner.manager)
        : undefined;
      let checkpoint = end ?? LOG_START;
      // The next page is read on another pooled connection, and decoded, while this one is
      // applied: the database reads while the handlers write, and the decoding waits for the
      // handlers' statements instead of adding to them (events never change once visible). Only
      // a connection the pool has free at once: waiting for one could wait forever, as the
      // callers holding them may be waiting for this rebuild's lock (another rebuild, a retry).
      // Without one, the read waits its turn on the rebuild's own connection.
      const readAhead = async (last?: LogEvent) => {
        const db = spareConnections(this.dataSource) > 0 ? this.dataSource.manager : runner.manager;
        const events = end
          ? await this.store.readByStream(last, end, pageSize, db)
          : await this.store.readAll(last ? toCheckpoint(last) : LOG_START, pageSize, db);
        return { events, envelopes: this.decodeIfValid(events) };
      };
      let next = readAhead();
      for (;;) {
        const { events, envelopes } = await next;
        if (events.length === 0) break;
        const last = events[events.length - 1];
        if (!end) checkpoint = toCheckpoint(last);
        next = readAhead(last);
        // If applying fails, the replay rolls back and nobody awaits this read.
        next.catch(() => undefined);
        if (park) await this.applyWithSavepoints(events, runner, held, envelopes);
        else
          await this.applyAll(events, runner.manager, envelopes).catch((error: unknown) => {
            // Parking takes the replay with savepoints (unless it is no fault of the events).
            throw endsRebuild(error) ? error : new EventsFailed(error);
          });
      }
      await runner.query(this.sql.moveCheckpoint, [
        this.name,
        checkpoint.transactionId,
        checkpoint.position,
      ]);
    });
  }

  /**
   * Applies the parked events again, stream by stream in log order (with the events held back
   * behind them); a stream whose events all apply leaves the parked list and flows again.
   */
  retryParked(): Promise<{ retried: number; failed: number }> {
    return this.oneAtATime(() => this.retryParkedNow());
  }

  private async retryParkedNow(): Promise<{ retried: number; failed: number }> {
    await this.endIdleChain();
    const streams: { streamId: string }[] = await this.dataSource.query(this.sql.parkedStreams, [
      this.name,
    ]);
    let retried = 0;
    let failed = 0;
    for (const { streamId } of streams) {
      let count = 0;
      try {
        await this.inTransaction(async (runner) => {
          await runner.query(LOCK, [this.name]);
          const rows: { position: string }[] = await runner.query(this.sql.parkedOfStream, [
            this.name,
            streamId,
          ]);
          count = rows.length;
          const events = await this.store.readPositions(
            rows.map((r) => Number(r.position)),
            runner.manager,
          );
          await this.applyAll(events, runner.manager);
          await runner.query(this.sql.unparkStream, [this.name, streamId]);
        });
        retried += count;
      } catch (error) {
        failed += count;
        this.logger.warn(`parked events of stream ${streamId} still fail: ${messageOf(error)}`);
      }
    }
    this.onAdvance(this.name);
    return { retried, failed };
  }

  private async run(): Promise<void> {
    let failures = 0;
    /** Failures in a row that were no fault of the events (not counted towards parking). */
    let outages = 0;
    /** The loop stops itself (onPoison 'stop'): nothing runs the projection after it. */
    let halted = false;
    let singleSteps = 0;
    /** Looks since a wake found nothing to read (see below). */
    let looks = 0;
    while (!this.stopping) {
      const limit = singleSteps > 0 ? 1 : this.options.batchSize;
      const woken = this.pending;
      let applied: number;
      const watchdog = this.watch();
      try {
        applied = await this.processBatch(limit, true);
        this.unwatch(watchdog);
        failures = 0;
        outages = 0;
        singleSteps = Math.max(0, singleSteps - applied);
        this.lastError = undefined;
        this.status = this.isRebuilding ? 'rebuilding' : 'running';
      } catch (error) {
        this.unwatch(watchdog);
        // No batch opened for later waits with the lock through the back-off.
        await this.endChain();
        // The checkpoint is read again (a failed commit may or may not have moved it).
        this.known = undefined;
        // An unreachable database, or a connection that lost its prepared statements (given up
        // by closeBatch), is no fault of the event: wait for it without counting.
        const counted = !isConnectionError(error) && !lostPreparedStatement(error);
        if (counted) {
          failures += 1;
          outages = 0;
        } else outages += 1;
        this.lastError = messageOf(error);
        this.status = 'failing';
        if (
          limit === 1 &&
          (failures >= this.options.poisonAfterAttempts || error instanceof EventSchemaError)
        ) {
          if (this.options.onPoison === 'stop') {
            this.logger.error(`stopped on an event it cannot apply: ${this.lastError}`);
            this.stopping = true;
            halted = true;
            break;
          }
          await this.parkNext(failures).catch((parkError) =>
            this.logger.error(`parking failed: ${messageOf(parkError)}`),
          );
          failures = 0;
          continue;
        }
        // Go one event at a time until the failing one is found (or the failure goes away); not
        // after a failure that is no event's fault, where none is to be found.
        if (counted) singleSteps = this.options.batchSize;
        const attempt = counted
          ? `attempt ${failures}`
          : `no fault of the events, ${outages} in a row`;
        this.logger.warn(`batch failed (${attempt}): ${this.lastError}`);
        // Twice as long after each failure of its kind in a row: up to 30 s for the events'
        // failures, 5 s for the others (a database out of reach, or refusing connections: resume
        // soon after).
        const backOff = 50 * 2 ** Math.max(counted ? failures : outages, 1);
        await this.idle(Math.min(counted ? 30_000 : 5_000, backOff), { backOff: true });
        continue;
      }
      // Woken by an append, yet nothing to read: its events may still be behind the fence (a
      // transaction older than them is open somewhere on the server). Look again after 50 ms,
      // then twice as long each time, up to the poll interval, instead of waiting for the poll.
      if (applied > 0) looks = 0;
      else if (woken) looks = 1;
      else if (looks > 0) looks += 1;
      let wait = this.options.pollIntervalMs;
      if (looks > 0 && 25 * 2 ** looks < wait) wait = 25 * 2 ** looks;
      else looks = 0;
      // A batch taken from another runner's read may not reach the end of the log: ask again.
      // A poll nobody woke it for reads the checkpoint again (see skipUnhandled).
      if (
        applied < limit &&
        !this.mayHaveMore &&
        !this.chained &&
        !(await this.idle(wait)) &&
        looks === 0
      )
        this.known = undefined;
    }
    await this.endChain();
    if (this.stopping && this.status === 'failing') this.status = 'stopped';
    if (halted) this.loop = undefined;
  }

  /** Starts the timer of a batch of the loop (see stuck); none when `batchStuckAfterMs` is 0. */
  private watch(): NodeJS.Timeout | undefined {
    const after = this.options.batchStuckAfterMs;
    return after > 0 ? setTimeout(() => this.stuck(), after) : undefined;
  }

  private unwatch(watchdog: NodeJS.Timeout | undefined): void {
    clearTimeout(watchdog);
    this.stuckBatch = false;
  }

  /**
   * The batch in flight has run for `batchStuckAfterMs`: most likely a handler whose promise does
   * not settle (a call with no timeout), or a database that does not answer. The batch holds its
   * transaction and the projection's lock, and nothing shows it but a growing lag: show the
   * projection `failing` until the batch ends (its end sets the status again). The batch is not
   * abandoned: a handler still running could write on a connection given back to the pool.
   */
  private stuck(): void {
    this.stuckBatch = true;
    const seconds = this.options.batchStuckAfterMs / 1000;
    this.lastError =
      `a batch has run for more than ${seconds} s: ` +
      'a handler has not settled, or the database has not answered';
    this.status = 'failing';
    this.logger.warn(this.lastError);
  }

  /** Rolls back and releases a batch transaction opened for a batch that will not run. */
  private async endChain(): Promise<void> {
    const opened = this.chained;
    this.chained = undefined;
    if (opened) await closeBatch(opened);
  }

  /**
   * Before this process waits for the projection's lock: without a loop to run it, a batch
   * opened by a {@link processBatch} call would hold the lock for good. (With one, the batch runs,
   * and opens no next one while a rebuild here or a waiter elsewhere wants the lock.)
   */
  private async endIdleChain(): Promise<void> {
    if (!this.running) await this.endChain();
  }

  /**
   * Applies the next batch; returns how many events it read (0 when idle or locked elsewhere).
   * `chain`: its commit may open the next batch (see withCheckpoint), for the caller to run next
   * (the runner's loop does).
   */
  async processBatch(limit = this.options.batchSize, chain = false): Promise<number> {
    const woken = this.pending;
    // Woken for events this runner has not read yet (an append can wake it after its events went
    // into the batch in flight, which then leaves nothing for this one). By global position, so
    // only a guess (the log is read in transaction order), but it only picks which of two correct
    // ways the batch takes.
    const unseen = this.wokenFor > this.seenUpTo;
    this.wokenBefore = this.wokenFor;
    this.lookedAfter = false;
    this.pending = false;
    this.wokenFor = 0;
    this.mayHaveMore = false;
    // Woken by new events right after a batch that applied some: they are most likely this
    // projection's too, so its batch opens while the log is read, instead of after a read that
    // checks whether they can be skipped (one round trip less).
    const readAhead =
      woken && unseen && this.appliedLast && !this.isRebuilding ? this.known : undefined;
    if (!readAhead && !this.chained) {
      const skipped = await this.skipUnhandled(limit);
      if (skipped !== undefined) {
        if (skipped > 0) {
          this.appliedLast = false;
          this.onAdvance(this.name);
          this.stillWoken();
        }
        return skipped;
      }
    }
    const applied = await this.withCheckpoint(
      limit,
      async (events, runner, held) => {
        for (const event of events) {
          if (held.has(event.streamId)) await this.park(runner, event, HELD_BACK, 0);
        }
        const writes = new DeferredWrites();
        await this.applyAll(
          events.filter((e) => !held.has(e.streamId)),
          runner.manager,
          undefined,
          writes,
        );
        this.appliedLast = events.some((e) => this.handlersFor(e.type).length > 0);
        return writes.queued;
      },
      readAhead,
      chain,
    );
    if (applied > 0) {
      this.onAdvance(this.name);
      this.stillWoken();
    }
    return applied;
  }

  /**
   * After a batch that advanced: if a wake that came before it was for events it did not read (a
   * chained batch took events read before they came; or they were behind the fence), and its
   * commit did not read the log again, the runner is woken again, to look at once instead of at
   * the next poll. Only for a wake by an append of this process: a NOTIFY has no position (it is
   * most likely for the events just read). A batch that reads nothing leaves the wait to the
   * back-off in run.
   */
  private stillWoken(): void {
    if (this.lookedAfter || !Number.isFinite(this.wokenBefore)) return;
    if (this.wokenBefore <= this.seenUpTo) return;
    this.pending = true;
    if (this.wokenBefore > this.wokenFor) this.wokenFor = this.wokenBefore;
  }

  /**
   * When the next events are all of types no handler of this projection takes (deposits, for the
   * transfer projections), moves the checkpoint past them with one UPDATE (SKIP): no transaction
   * of its own. The UPDATE starts from the checkpoint this runner last saw and takes the lock; if
   * anything moved the checkpoint since, or holds the lock, it matches no row and the events go the
   * usual way (as they do when any of them is handled or of a type no class reads). Returns how
   * many it skipped, or undefined.
   *
   * Nothing after that checkpoint: 0, without a transaction. Only a checkpoint moved back (by hand,
   * or a crash that lost the last commits of batches, which do not wait for the WAL flush) could
   * hide events then, until new events come or a poll that no append woke reads the checkpoint
   * again.
   */
  private async skipUnhandled(limit: number): Promise<number | undefined> {
    const from = this.known;
    if (!from || this.isRebuilding) return undefined;
    const { events, shared } = await this.reader.read(from, limit, this.dataSource.manager);
    if (events.length === 0) {
      this.mayHaveMore = shared;
      return 0;
    }
    this.saw(events);
    const unhandled = (e: LogEvent) =>
      this.registry.classFor(e.type) !== undefined && this.handlersFor(e.type).length === 0;
    if (!events.every(unhandled)) return undefined;
    const to = events[events.length - 1];
    const [{ moved }] = await this.skip.rows<{ moved: number }>(this.dataSource, [
      this.name,
      to.transactionId,
      to.position,
      from.transactionId,
      from.position,
    ]);
    if (moved !== 1) {
      this.known = undefined;
      return undefined;
    }
    this.known = toCheckpoint(to);
    this.mayHaveMore = shared;
    return events.length;
  }

  /** Records the next event as parked (with the error) and moves the checkpoint past it. */
  private async parkNext(attempts: number): Promise<void> {
    await this.withCheckpoint(1, async ([event], runner) => {
      await this.park(runner, event, this.lastError ?? 'unknown error', attempts);
      this.logger.error(
        `parked the event at position ${event.position} (${event.type}): ${this.lastError}`,
      );
    });
    this.onAdvance(this.name);
  }

  /**
   * One transaction: lock the projection (or give up if another process has it), read up to
   * `limit` events after its checkpoint, run `work`, move the checkpoint past them, commit. The
   * transaction's opening statements go in one round trip (OPEN_BATCH), and the writes `work`
   * deferred go with its closing ones (ADVANCE_AND_COMMIT) in another: a batch is the log read,
   * its handlers' own statements and two more.
   *
   * `chain`: after a full batch, or if the runner was woken (before the batch or during it) for
   * events it has not read, the closing round trip also opens the next batch's transaction and reads its
   * events (after the checkpoint this batch commits), so that while events keep coming a batch is
   * one round trip and its handlers' statements: its close, with the next one's opening and read.
   * The next batch takes that transaction ({@link chained}) if it got the lock, found the
   * checkpoint where this one left it, and read events; otherwise it is rolled back at once. A
   * waiter for the lock (a rebuild, a retry of parked events, another process's rebuild) is not
   * kept waiting by this: PostgreSQL does not grant a lock to a new request while an earlier
   * one waits, so the next opening's try fails and the chain ends.
   */
  private async withCheckpoint(
    limit: number,
    work: (
      events: LogEvent[],
      runner: QueryRunner,
      held: Set<string>,
    ) => Promise<DeferredWrite[] | void>,
    readAhead?: LogCheckpoint,
    chain = false,
  ): Promise<number> {
    const opened = this.chained;
    this.chained = undefined;
    // Read from where the checkpoint was while the batch opens, if the pool has a connection for
    // each at once (a batch holding one must not wait for another): if the checkpoint is still
    // there, the batch takes that read. Other runners may share it (SharedLogReader).
    const ahead =
      !opened && readAhead && spareConnections(this.dataSource) >= 2
        ? this.reader.read(readAhead, limit, this.dataSource.manager).catch(() => undefined)
        : undefined;
    const runner = opened?.runner ?? this.dataSource.createQueryRunner();
    const client = opened?.client ?? ((await runner.connect()) as pg.PoolClient);
    /** Whether a transaction may be open that the batch did not commit. */
    let open = true;
    let next: OpenedBatch | undefined;
    let failure: unknown;
    this.known = undefined;
    try {
      let row = opened?.row;
      if (!row) {
        const [, lock, checkpoint] = (await client.query(
          this.sql.openBatch,
        )) as unknown as pg.QueryResult[];
        adoptTransaction(runner, true);
        if (!lock.rows[0].locked) return 0;
        row = checkpoint.rows[0] as OpenedBatch['row'];
      }
      const from = toCheckpoint(row);
      const { events, shared } = opened
        ? { events: opened.events.slice(0, limit), shared: false }
        : ((ahead && sameCheckpoint(from, readAhead!) ? await ahead : undefined) ??
          (await this.reader.read(from, limit, preparedOn(client))));
      this.mayHaveMore = shared;
      this.saw(events);
      if (events.length === 0) {
        this.known = from;
        // The events that woke it were in the batch before: read first next time (skipUnhandled).
        this.appliedLast = false;
        return 0;
      }
      const writes = (await work(events, runner, new Set(row.held))) ?? [];
      const to = toCheckpoint(events[events.length - 1]);
      // Only after a full batch (catching up), or if woken (before the batch or meanwhile) for
      // events it has not read: else the next batch would most likely find none, and roll back.
      // Not while stopping or rebuilding (the lock must go: a rebuild here waits for it), nor
      // while callers wait for a pooled connection (this one must go back to them).
      const unread = (position: number) => position > this.seenUpTo;
      const opening =
        chain &&
        (events.length === limit ||
          unread(this.wokenBefore) ||
          (this.pending && unread(this.wokenFor))) &&
        !this.stopping &&
        !this.isRebuilding &&
        !connectionsAwaited(this.dataSource);
      this.lookedAfter = opening;
      const results = await pipelined(client, [
        ...writes,
        { sql: ADVANCE_AND_COMMIT(this.tables, this.name, from, to) },
        ...(opening
          ? [
              { sql: this.sql.openBatch },
              { ...this.store.readAllStatement(to, limit), prepare: true },
            ]
          : []),
      ]);
      const failed = results.findIndex((result) => result.status === 'rejected');
      if (failed >= 0 && failed <= writes.length) {
        const { reason } = results[failed] as PromiseRejectedResult;
        // The checkpoint moved under the batch: it rolls back, nothing was applied. (A deferred
        // write that fails is a failure of the batch, whatever its error.)
        if (failed === writes.length && reason?.code === DIVISION_BY_ZERO) return 0;
        throw reason;
      }
      open = opening;
      this.known = to;
      if (opening) {
        const opened = results.slice(writes.length + 1);
        next = this.opened(runner, client, opened, to);
        // A statement of the opening that failed may have left the connection unfit (closeBatch).
        if (!next) failure = opened.find((result) => result.status === 'rejected')?.reason;
      }
      return events.length;
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      if (next) this.chained = next;
      // Outside a transaction (BEGIN never ran) this is a warning, not an error.
      else await closeBatch({ runner, client }, open, failure);
    }
  }

  /**
   * The next batch's transaction, from the results of its opening statements and its read sent
   * with the last batch's close; undefined (it is to be rolled back) if it did not get the lock,
   * found its checkpoint elsewhere than `at`, or found no events.
   */
  private opened(
    runner: QueryRunner,
    client: pg.PoolClient,
    [opening, read]: PromiseSettledResult<unknown>[],
    at: LogCheckpoint,
  ): OpenedBatch | undefined {
    if (opening.status === 'rejected' || read.status === 'rejected') return undefined;
    // The batch before has committed: nothing here may fail it.
    try {
      const [, lock, checkpoint] = opening.value as pg.QueryResult[];
      const row = checkpoint.rows[0] as OpenedBatch['row'] | undefined;
      if (!lock.rows[0].locked || !row || !sameCheckpoint(toCheckpoint(row), at)) return undefined;
      const events = this.store.logEvents((read.value as pg.QueryResult).rows);
      return events.length > 0 ? { runner, client, row, events } : undefined;
    } catch {
      return undefined;
    }
  }

  private saw(events: LogEvent[]): void {
    for (const { position } of events) if (position > this.seenUpTo) this.seenUpTo = position;
  }

  private async park(
    runner: QueryRunner,
    event: LogEvent,
    error: string,
    attempts: number,
  ): Promise<void> {
    await runner.query(this.sql.park, [this.name, event.position, event.streamId, error, attempts]);
  }

  /**
   * A batch in a savepoint; if it fails, event by event, parking each one that fails. `held`: the
   * streams with a parked event, whose later events are parked behind it (and added to). Those
   * are parked first, and the others still go as one batch: in a page of 20,000 events of an
   * interleaved log, most pages after a parked event hold one of its stream's.
   */
  private async applyWithSavepoints(
    events: LogEvent[],
    runner: QueryRunner,
    held: Set<string>,
    envelopes?: EventEnvelope[],
  ): Promise<void> {
    let rest = events;
    if (events.some((e) => held.has(e.streamId))) {
      for (const event of events) {
        if (held.has(event.streamId)) await this.park(runner, event, HELD_BACK, 0);
      }
      rest = events.filter((e) => !held.has(e.streamId));
      envelopes = envelopes?.filter((e) => !held.has(e.streamId));
    }
    if (rest.length === 0) return;
    await runner.query('SAVEPOINT batch');
    try {
      await this.applyAll(rest, runner.manager, envelopes);
      await runner.query('RELEASE SAVEPOINT batch');
      return;
    } catch {
      await runner.query('ROLLBACK TO SAVEPOINT batch');
    }
    for (const event of rest) {
      if (held.has(event.streamId)) {
        await this.park(runner, event, HELD_BACK, 0);
        continue;
      }
      await runner.query('SAVEPOINT event');
      try {
        await this.applyAll([event], runner.manager);
        await runner.query('RELEASE SAVEPOINT event');
      } catch (error) {
        if (endsRebuild(error)) throw error;
        await runner.query('ROLLBACK TO SAVEPOINT event');
        await this.park(runner, event, messageOf(error), 1);
        held.add(event.streamId);
      }
    }
  }

  private async inTransaction<T>(work: (runner: QueryRunner) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      const result = await work(runner);
      await runner.commitTransaction();
      return result;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }

  /**
   * The envelopes of the events this projection handles, in log order.
   * @throws EventSchemaError for an event no registered class reads: it is parked, not skipped, as
   * it may be one the app should know.
   */
  private decode(events: LogEvent[]): EventEnvelope[] {
    const envelopes: EventEnvelope[] = [];
    for (const stored of events) {
      if (!this.registry.classFor(stored.type)) this.registry.read(stored);
      if (this.handlersFor(stored.type).length > 0) envelopes.push(this.registry.read(stored));
    }
    return envelopes;
  }

  /** {@link decode}, or undefined where an event cannot be read (applying them will tell which). */
  private decodeIfValid(events: LogEvent[]): EventEnvelope[] | undefined {
    try {
      return this.decode(events);
    } catch {
      return undefined;
    }
  }

  /**
   * Applies events in log order (decoded already, if `envelopes` is given). A handler with
   * `handleBatch` gets all its events of the batch in one call (set-based writes); the others get
   * them one by one. The writes they defer run at the end, unless `writes` is given: they are
   * left in it, for the caller to send with its commit.
   */
  private async applyAll(
    events: LogEvent[],
    manager: EntityManager,
    envelopes = this.decode(events),
    writes?: DeferredWrites,
  ): Promise<void> {
    const queue = writes ?? new DeferredWrites();
    const { defer } = queue;
    for (const { instance, events: classes } of this.definition.handlers) {
      const mine = envelopes.filter((e) => classes.includes(e.event.constructor as EventClass));
      if (mine.length === 0) continue;
      if (instance.handleBatch) await instance.handleBatch(mine, { manager, defer });
      else
        for (const envelope of mine) {
          await instance.handle(envelope.event, { manager, envelope, defer });
        }
    }
    if (!writes) await queue.flush(manager);
  }

  private handlersFor(type: string): ProjectionHandler[] {
    let handlers = this.byType.get(type);
    if (!handlers) {
      const cls = this.registry.classFor(type);
      handlers = this.definition.handlers
        .filter((h) => cls && h.events.includes(cls))
        .map((h) => h.instance);
      this.byType.set(type, handlers);
    }
    return handlers;
  }

  /**
   * Waits `ms` or until woken; resolves true when woken (or already pending). `backOff`: only a
   * stop ends the wait early.
   */
  private idle(ms: number, { backOff = false } = {}): Promise<boolean> {
    if (this.stopping || (this.pending && !backOff)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (woken: boolean) => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve(woken);
      };
      const timer = setTimeout(() => done(false), ms);
      // A back-off after a failure lasts its time whatever comes (the wake is kept in `pending`):
      // under steady writes, wakes would otherwise retry at once, and use up the tries of an event
      // that fails for a moment.
      this.wakeUp = () => (backOff && !this.stopping ? undefined : done(true));
    });
  }
}

function sameCheckpoint(a: LogCheckpoint, b: LogCheckpoint): boolean {
  return a.transactionId === b.transactionId && a.position === b.position;
}

function poolOf(dataSource: DataSource): pg.Pool | undefined {
  return (dataSource.driver as { master?: pg.Pool }).master;
}

/** Whether callers wait for a connection of the DataSource's pool. */
function connectionsAwaited(dataSource: DataSource): boolean {
  return (poolOf(dataSource)?.waitingCount ?? 0) > 0;
}

/**
 * Connections the DataSource's pool gives at once (idle ones, and room to open more), none while
 * callers wait for one. Whoever holds a connection takes a second one only from these: waiting
 * for it could wait on the callers that hold the others.
 */
function spareConnections(dataSource: DataSource): number {
  if (connectionsAwaited(dataSource)) return 0;
  const pool = poolOf(dataSource);
  if (!pool) return 0;
  return pool.idleCount + (pool.options.max ?? 10) - pool.totalCount;
}

/**
 * Runs `statements` in order on `client`, in one round trip: pg's pipeline mode sends each without
 * waiting for the one before. It is on for these statements only (the connection is idle before
 * and after them). In a transaction, one that fails aborts it, so those after it fail too (a
 * COMMIT among them commits nothing). `prepare`: a statement of fixed text, run as a named prepared
 * statement. Returns each statement's outcome.
 * @throws before anything is sent, when pg cannot serialize a statement's parameters: pg would
 * fail that statement without the server seeing it, and the ones after it would still run
 */
async function pipelined(
  client: pg.PoolClient,
  statements: (DeferredWrite & { prepare?: boolean })[],
): Promise<PromiseSettledResult<unknown>[]> {
  const serialized = statements.map(({ sql, parameters, prepare }) => ({
    text: sql,
    values: parameters === undefined ? undefined : parameters.map(utils.prepareValue),
    // Fixed text, run as a named prepared statement (see preparedOn).
    name: prepare ? statementName(sql) : undefined,
  }));
  if (statements.length === 1) return Promise.allSettled([client.query(serialized[0])]);
  const connection = client as pg.PoolClient & {
    pipeline: boolean;
    connection: { stream: { cork(): void; uncork(): void } };
  };
  // pg submits each statement with a write of its own (one `writev` each: a system call, and a
  // wake-up of the server's backend before the rest has come). Corked, they go in one write.
  const { stream } = connection.connection;
  connection.pipeline = true;
  try {
    stream.cork();
    let sent: Promise<unknown>[];
    try {
      sent = serialized.map((query) => client.query(query));
    } finally {
      stream.uncork();
    }
    return await Promise.allSettled(sent);
  } finally {
    connection.pipeline = false;
  }
}

/** A batch's transaction on its connection, opened (see ProjectionRunner.withCheckpoint). */
interface OpenedBatch {
  runner: QueryRunner;
  client: pg.PoolClient;
  /** The checkpoint, and the streams held back behind a parked event (OPEN_BATCH). */
  row: CheckpointRow & { held: string[] };
  /** The events after that checkpoint, read in the same round trip. */
  events: LogEvent[];
}

/**
 * Gives a batch's connection back to the pool, rolling back first if a transaction may be open
 * (outside one, ROLLBACK is a warning, not an error). After a database error that may have left
 * the connection unfit (see failsStatementOnly: a prepared statement the server no longer has, or
 * whose plan changed type, would fail every batch on it), the pool closes it instead.
 */
async function closeBatch(
  { runner, client }: Pick<OpenedBatch, 'runner' | 'client'>,
  open = true,
  failure?: unknown,
): Promise<void> {
  if (open) await client.query('ROLLBACK').catch(() => undefined);
  adoptTransaction(runner, false);
  if (failure instanceof pg.DatabaseError && !failsStatementOnly(failure)) {
    // TypeORM's own release, handing the error to the pool (public in the class, not its type).
    const postgres = runner as unknown as {
      releasePostgresConnection(error: unknown): Promise<void>;
    };
    await postgres.releasePostgresConnection(failure);
  } else await runner.release();
}

/**
 * Tells TypeORM's query runner that a transaction we opened on its connection is active (or has
 * ended), so that handlers' `manager` calls behave as in any transaction: `save` does not open and
 * commit one of its own, and a nested `manager.transaction` takes a savepoint. TypeORM keeps this
 * state in `isTransactionActive` and the protected `transactionDepth`.
 */
function adoptTransaction(runner: QueryRunner, active: boolean): void {
  const state = runner as unknown as { isTransactionActive: boolean; transactionDepth: number };
  state.isTransactionActive = active;
  state.transactionDepth = active ? 1 : 0;
}

/** A checkpoint's transaction id as an SQL literal (it came from PostgreSQL: digits only). */
function xid8({ transactionId }: LogCheckpoint): string {
  if (!/^\d+$/.test(transactionId)) throw new Error(`not a transaction id: ${transactionId}`);
  return `'${transactionId}'::xid8`;
}

function position({ position }: LogCheckpoint): string {
  if (!Number.isSafeInteger(position)) throw new Error(`not a log position: ${position}`);
  return String(position);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
