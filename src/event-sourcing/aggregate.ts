import { AggregateRoot } from '@nestjs/cqrs';
import type { JsonObject } from './event-registry.js';

/**
 * An aggregate whose state is the fold of its stream. Subclasses change state only in
 * `on<EventClassName>(event)` methods and record decisions with `this.apply(new SomethingHappened(...))`.
 *
 * Snapshots are opt-in: set `static snapshotRevision` and implement `toSnapshot`/`fromSnapshot`.
 * Bump the revision whenever the snapshot's shape or meaning changes: snapshots of another
 * revision are ignored (full replay) and replaced by the next one taken.
 */
export abstract class EventSourcedAggregate extends AggregateRoot {
  /** Revision of this aggregate's snapshot format; undefined means no snapshots. */
  static snapshotRevision?: number;

  /** Version of the last stored event this instance has seen; -1 for a stream with no events. */
  version = -1;
  /** Global position of that event; 0 when none. */
  position = 0;

  constructor(readonly id: string) {
    super();
  }

  /** The state to keep in a snapshot, as plain JSON. */
  toSnapshot?(): JsonObject;

  /** Restores what {@link toSnapshot} returned. @throws when the state is not readable */
  fromSnapshot?(state: JsonObject): void;
}

/** A class of aggregate, built with its id (its stream id). */
export type AggregateClass<A extends EventSourcedAggregate> = (new (id: string) => A) & {
  snapshotRevision?: number;
};
