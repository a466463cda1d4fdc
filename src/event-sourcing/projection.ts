import { SetMetadata } from '@nestjs/common';
import type { EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';
import type { EventEnvelope } from './event-registry.js';

export const PROJECTION_METADATA = 'tally:projection';

export interface ProjectionOptions {
  /** Stable name: the checkpoint's key and the name in GET /projections. */
  name: string;
  /** `read-model` (can be rebuilt) or `saga` (issues commands; never rebuilt). Default read-model. */
  kind?: 'read-model' | 'saga';
  /** Entities this read model owns: a rebuild empties them. */
  tables?: EntityTarget<ObjectLiteral>[];
  /**
   * Each row of this read model follows the events of one stream only, in version order (an
   * account's summary, its statement). A rebuild then replays the log stream by stream, up to the
   * end the log had when it began, instead of in log order: a row's events come together, in a
   * page or two, where in log order they can span every page, each writing the row again, and a
   * rebuild's one transaction keeps every version it wrote (README, "Night of 2026-12-07"). Every
   * handler class of the projection must say so. Default false.
   */
  rebuildByStream?: boolean;
}

/**
 * Marks an `@EventsHandler` class as (part of) a projection fed by the global-log processor.
 * Handler classes with the same name share one checkpoint and one transaction per batch.
 */
export const Projection = (options: ProjectionOptions): ClassDecorator =>
  SetMetadata(PROJECTION_METADATA, options);

/** What a projection handler gets beside the event. */
export interface ProjectionContext {
  /** The batch's transaction: write read entities through it, never through another connection. */
  manager: EntityManager;
  /** Where the event sits: stream, version, global position, metadata, recordedAt. */
  envelope: EventEnvelope;
  /**
   * Queues a write whose result the handler does not need (SQL with `$1`... parameters, as
   * `manager.query` takes them). The queued writes of a batch run in the order queued, after
   * every handler of the batch has returned, in the batch's transaction: the processor sends them
   * together with the move of the checkpoint and the commit, in one round trip. A write that
   * fails fails the batch, as a handler that throws does. Reads through `manager` in the same
   * batch do not see them.
   */
  defer(sql: string, parameters?: unknown[]): void;
}

/**
 * A projection handler: an ordinary `@EventsHandler` class whose `handle` also takes the batch's
 * context. The processor awaits it; throwing rolls back the batch and retries it.
 */
export interface ProjectionHandler<E extends object = object> {
  handle(event: E, context: ProjectionContext): Promise<void>;
  /**
   * Optional: all of this handler's events of a batch at once, in log order, so it can read and
   * write a set of rows in a few statements instead of one per event. When present, the processor
   * calls it instead of `handle`.
   */
  handleBatch?(
    envelopes: EventEnvelope<E>[],
    context: Pick<ProjectionContext, 'manager' | 'defer'>,
  ): Promise<void>;
}

/** A write queued by {@link ProjectionContext.defer}. */
export interface DeferredWrite {
  sql: string;
  parameters?: unknown[];
}

/**
 * The writes handlers queue with `defer`. The processor sends those of a live batch with its
 * commit; elsewhere (a rebuild's page, a retry, `ProjectionSpec`, a test calling a handler
 * itself) `flush` runs them, in order, where the handler's own statements ran.
 */
export class DeferredWrites {
  readonly queued: DeferredWrite[] = [];

  readonly defer = (sql: string, parameters?: unknown[]): void => {
    this.queued.push({ sql, parameters });
  };

  /** Runs the queued writes in order on `manager`'s connection and empties the queue. */
  async flush(manager: Pick<EntityManager, 'query'>): Promise<void> {
    for (const { sql, parameters } of this.queued.splice(0)) await manager.query(sql, parameters);
  }
}
