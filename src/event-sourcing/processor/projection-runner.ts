import { Logger } from '@nestjs/common';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { EventSchemaError, isConnectionError } from '../errors.js';
import type { EventClass, EventRegistry } from '../event-registry.js';
import { LOG_START, type EventStore, type LogCheckpoint, type LogEvent } from '../event-store.js';
import type { ResolvedEventSourcingOptions } from '../options.js';
import type { ProjectionHandler, ProjectionOptions } from '../projection.js';

export type ProjectionStatus = 'running' | 'rebuilding' | 'stopped' | 'failing';

/** A named projection: its handlers share one checkpoint and one transaction per batch. */
export interface ProjectionDefinition extends Required<ProjectionOptions> {
  handlers: { instance: ProjectionHandler; events: EventClass[] }[];
}

// Advisory locks do not give the transaction an id, so a processor waiting on its handlers does
// not hold back the pg_snapshot_xmin fence of the others. The first key namespaces ours.
const LOCK_NAMESPACE = 7_265_002;
const TRY_LOCK = `SELECT pg_try_advisory_xact_lock(${LOCK_NAMESPACE}, hashtext($1)) AS locked`;
const LOCK = `SELECT pg_advisory_xact_lock(${LOCK_NAMESPACE}, hashtext($1))`;
const CHECKPOINT = `SELECT transaction_id::text AS "transactionId", global_position AS "position"
  FROM projection_checkpoints WHERE name = $1`;
const MOVE_CHECKPOINT = `UPDATE projection_checkpoints
  SET transaction_id = $2::xid8, global_position = $3, updated_at = now() WHERE name = $1`;
const PARK = `INSERT INTO parked_events (projection, global_position, error, attempts)
  VALUES ($1, $2, $3, $4) ON CONFLICT (projection, global_position) DO UPDATE SET error = EXCLUDED.error`;

/**
 * Feeds one projection from the global log. Each batch is one transaction: take the projection's
 * advisory lock (skip if another process holds it), read the events after the checkpoint behind
 * the `pg_snapshot_xmin` fence, await every handler, move the checkpoint, commit.
 *
 * A failing batch is retried with back-off, then event by event; an event that keeps failing (or
 * cannot be read) is parked for this projection only, or stops it (`onPoison`).
 */
export class ProjectionRunner {
  status: ProjectionStatus = 'stopped';
  lastError?: string;
  private readonly logger: Logger;
  private readonly byType = new Map<string, ProjectionHandler[]>();
  private stopping = false;
  private pending = false;
  private rebuilding = false;
  private wakeUp?: () => void;
  private loop?: Promise<void>;

  constructor(
    readonly definition: ProjectionDefinition,
    private readonly dataSource: DataSource,
    private readonly store: EventStore,
    private readonly registry: EventRegistry,
    private readonly options: ResolvedEventSourcingOptions,
    private readonly onAdvance: (name: string) => void,
  ) {
    this.logger = new Logger(`Projection ${definition.name}`);
  }

  get name(): string {
    return this.definition.name;
  }

  get running(): boolean {
    return this.loop !== undefined;
  }

  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.status = this.rebuilding ? 'rebuilding' : 'running';
    this.loop = this.run();
  }

  /** Stops after the batch in flight (if any) has committed or rolled back. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.loop;
    this.loop = undefined;
    this.status = 'stopped';
  }

  /** New events may be there: run now instead of at the next poll. */
  wake(): void {
    this.pending = true;
    this.wakeUp?.();
  }

  /**
   * Empties the read tables and resets the checkpoint in one transaction (waiting for a batch in
   * flight in any process), then lets the runner replay the log from the start.
   */
  async rebuild(): Promise<void> {
    await this.inTransaction(async (runner) => {
      await runner.query(LOCK, [this.name]);
      for (const table of this.definition.tables) {
        await runner.manager.getRepository(table).clear();
      }
      await runner.query(`DELETE FROM parked_events WHERE projection = $1`, [this.name]);
      await runner.query(MOVE_CHECKPOINT, [this.name, LOG_START.transactionId, LOG_START.position]);
    });
    this.rebuilding = true;
    if (this.running) this.status = 'rebuilding';
    this.wake();
  }

  /** Applies the parked events again, oldest first; those that succeed leave the parked list. */
  async retryParked(): Promise<{ retried: number; failed: number }> {
    const parked: { position: string }[] = await this.dataSource.query(
      `SELECT global_position AS position FROM parked_events WHERE projection = $1 ORDER BY global_position`,
      [this.name],
    );
    let failed = 0;
    for (const { position } of parked) {
      try {
        await this.inTransaction(async (runner) => {
          await runner.query(LOCK, [this.name]);
          const [event] = await this.store.readPositions([Number(position)], runner.manager);
          if (event) await this.apply(event, runner.manager);
          await runner.query(
            `DELETE FROM parked_events WHERE projection = $1 AND global_position = $2`,
            [this.name, position],
          );
        });
      } catch (error) {
        failed += 1;
        await this.dataSource.query(PARK, [
          this.name,
          position,
          messageOf(error),
          this.options.poisonAfterAttempts,
        ]);
      }
    }
    this.onAdvance(this.name);
    return { retried: parked.length - failed, failed };
  }

  private async run(): Promise<void> {
    let failures = 0;
    let singleSteps = 0;
    while (!this.stopping) {
      const limit = singleSteps > 0 ? 1 : this.options.batchSize;
      let applied: number;
      try {
        applied = await this.processBatch(limit);
        failures = 0;
        singleSteps = Math.max(0, singleSteps - applied);
        this.lastError = undefined;
        this.status = this.rebuilding ? 'rebuilding' : 'running';
      } catch (error) {
        // An unreachable database is no fault of the event: wait for it without counting.
        if (!isConnectionError(error)) failures += 1;
        this.lastError = messageOf(error);
        this.status = 'failing';
        if (
          limit === 1 &&
          (failures >= this.options.poisonAfterAttempts || error instanceof EventSchemaError)
        ) {
          if (this.options.onPoison === 'stop') {
            this.logger.error(`stopped on an event it cannot apply: ${this.lastError}`);
            this.stopping = true;
            break;
          }
          await this.parkNext(failures).catch((parkError) =>
            this.logger.error(`parking failed: ${messageOf(parkError)}`),
          );
          failures = 0;
          continue;
        }
        // Go one event at a time until the failing one is found (or the failure goes away).
        singleSteps = this.options.batchSize;
        this.logger.warn(`batch failed (attempt ${failures}): ${this.lastError}`);
        await this.idle(Math.min(30_000, 50 * 2 ** Math.max(failures, 1)));
        continue;
      }
      if (applied < limit) {
        if (this.rebuilding && this.status === 'rebuilding') {
          this.rebuilding = false;
          this.status = 'running';
        }
        await this.idle(this.options.pollIntervalMs);
      }
    }
    if (this.stopping && this.status === 'failing') this.status = 'stopped';
  }

  /** Applies the next batch; returns how many events it read (0 when idle or locked elsewhere). */
  async processBatch(limit = this.options.batchSize): Promise<number> {
    this.pending = false;
    const applied = await this.withCheckpoint(limit, async (events, runner) => {
      for (const stored of events) await this.apply(stored, runner.manager);
    });
    if (applied > 0) this.onAdvance(this.name);
    return applied;
  }

  /** Records the next event as parked (with the error) and moves the checkpoint past it. */
  private async parkNext(attempts: number): Promise<void> {
    await this.withCheckpoint(1, async ([event], runner) => {
      await runner.query(PARK, [
        this.name,
        event.position,
        this.lastError ?? 'unknown error',
        attempts,
      ]);
      this.logger.error(
        `parked the event at position ${event.position} (${event.type}): ${this.lastError}`,
      );
    });
    this.onAdvance(this.name);
  }

  /**
   * One transaction: lock the projection (or give up if another process has it), read up to
   * `limit` events after its checkpoint, run `work`, move the checkpoint past them, commit.
   */
  private async withCheckpoint(
    limit: number,
    work: (events: LogEvent[], runner: QueryRunner) => Promise<void>,
  ): Promise<number> {
    return this.inTransaction(async (runner) => {
      const [{ locked }] = await runner.query(TRY_LOCK, [this.name]);
      if (!locked) return 0;
      const [row] = await runner.query(CHECKPOINT, [this.name]);
      const events = await this.store.readAll(toCheckpoint(row), limit, runner.manager);
      if (events.length === 0) return 0;
      await work(events, runner);
      const last = events[events.length - 1];
      await runner.query(MOVE_CHECKPOINT, [this.name, last.transactionId, last.position]);
      return events.length;
    });
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

  private async apply(stored: LogEvent, manager: EntityManager): Promise<void> {
    // An event no registered class reads is parked, not skipped: it may be one the app should know.
    if (!this.registry.classFor(stored.type)) this.registry.read(stored);
    const handlers = this.handlersFor(stored.type);
    if (handlers.length === 0) return;
    const envelope = this.registry.read(stored);
    for (const handler of handlers) await handler.handle(envelope.event, { manager, envelope });
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

  private idle(ms: number): Promise<void> {
    if (this.pending || this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
}

export function toCheckpoint(row: {
  transactionId: string;
  position: string | number;
}): LogCheckpoint {
  return { transactionId: row.transactionId, position: Number(row.position) };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
