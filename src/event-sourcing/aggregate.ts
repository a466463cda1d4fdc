import { AggregateRoot } from '@nestjs/cqrs';

/**
 * An aggregate whose state is the fold of its stream. Subclasses change state only in
 * `on<EventClassName>(event)` methods and record decisions with `this.apply(new SomethingHappened(...))`.
 */
export abstract class EventSourcedAggregate extends AggregateRoot {
  /** Version of the last stored event this instance has seen; -1 for a stream with no events. */
  version = -1;
  /** Global position of that event; 0 when none. */
  position = 0;

  constructor(readonly id: string) {
    super();
  }
}

/** A class of aggregate, built with its id (its stream id). */
export type AggregateClass<A extends EventSourcedAggregate> = new (id: string) => A;
