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
    context: Pick<ProjectionContext, 'manager'>,
  ): Promise<void>;
}
