import { Logger } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import type { EventClass, EventRegistry } from '../event-registry.js';
import type { EventStore, LogCheckpoint, LogEvent } from '../event-store.js';
import type { ResolvedEventSourcingOptions } from '../options.js';
import type { ProjectionHandler, ProjectionOptions } from '../projection.js';

export type ProjectionStatus = 'running' | 'rebuilding' | 'stopped' | 'failing';

/** A named projection: its handlers share one checkpoint and one transaction per batch. */
export interface ProjectionDefinition extends Required<ProjectionOptions> {
  handlers: { instance: ProjectionHandler; events: EventClass[] }[];
}

/**
 * Feeds one projection from the global log: lock its checkpoint row, read the next batch behind
 * the `pg_snapshot_xmin` fence, apply every handler, move the checkpoint, commit; all in one
 * transaction. The row lock (SKIP LOCKED) keeps two processes from applying the same batch.
 */
export class ProjectionRunner {
  status: ProjectionStatus = 'stopped';
  lastError?: string;
  private readonly logger: Logger;
  private readonly byType = new Map<string, ProjectionHandler[]>();
  private stopping = false;
  private pending = false;
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

  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.status = 'running';
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

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      let applied: number;
      try {
        applied = await this.processBatch();
        failures = 0;
        this.status = 'running';
        this.lastError = undefined;
      } catch (error) {
        failures += 1;
        this.status = 'failing';
        this.lastError = error instanceof Error ? error.message : String(error);
        this.logger.error(`batch failed (attempt ${failures}): ${this.lastError}`);
        await this.idle(Math.min(30_000, 100 * 2 ** failures));
        continue;
      }
      if (applied < this.options.batchSize) await this.idle(this.options.pollIntervalMs);
    }
  }

  /** Applies the next batch; returns how many events it read (0 when idle or locked elsewhere). */
  async processBatch(): Promise<number> {
    this.pending = false;
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      const [row] = await runner.query(
        `SELECT transaction_id::text AS "transactionId", global_position AS "position"
         FROM projection_checkpoints WHERE name = $1 FOR UPDATE SKIP LOCKED`,
        [this.name],
      );
      const events = row
        ? await this.store.readAll(toCheckpoint(row), this.options.batchSize, runner.manager)
        : [];
      if (events.length === 0) {
        await runner.rollbackTransaction();
        return 0;
      }
      for (const stored of events) await this.apply(stored, runner.manager);
      const last = events[events.length - 1];
      await runner.query(
        `UPDATE projection_checkpoints SET transaction_id = $2::xid8, global_position = $3, updated_at = now()
         WHERE name = $1`,
        [this.name, last.transactionId, last.position],
      );
      await runner.commitTransaction();
      this.onAdvance(this.name);
      return events.length;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }

  private async apply(stored: LogEvent, manager: EntityManager): Promise<void> {
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
