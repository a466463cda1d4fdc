import { deepStrictEqual, fail, ok } from 'node:assert/strict';
import type { AggregateClass, EventSourcedAggregate } from '../aggregate.js';

/**
 * given(events) / when(command) / then(events or error) for aggregates, with no database:
 *
 *   AggregateSpec.for(Account, id).given(opened).when((a) => a.withdraw(500)).thenThrows(InsufficientFundsError);
 *
 * Assertions use node:assert, so they work under any test runner.
 */
export class AggregateSpec<A extends EventSourcedAggregate> {
  private history: object[] = [];

  private constructor(
    private readonly type: AggregateClass<A>,
    private readonly id: string,
  ) {}

  static for<A extends EventSourcedAggregate>(
    type: AggregateClass<A>,
    id: string,
  ): AggregateSpec<A> {
    return new AggregateSpec(type, id);
  }

  /** The events already in the stream. */
  given(...events: object[]): this {
    this.history = events;
    return this;
  }

  /** Runs a command method on the rehydrated aggregate and records what it decided. */
  when(command: (aggregate: A) => void): AggregateSpecOutcome<A> {
    const aggregate = new this.type(this.id);
    aggregate.loadFromHistory(this.history);
    aggregate.version = this.history.length - 1;
    try {
      command(aggregate);
      return new AggregateSpecOutcome(aggregate, [...aggregate.getUncommittedEvents()]);
    } catch (error) {
      return new AggregateSpecOutcome(aggregate, [...aggregate.getUncommittedEvents()], error);
    }
  }
}

export class AggregateSpecOutcome<A extends EventSourcedAggregate> {
  constructor(
    /** The aggregate after the command (its state includes the new events). */
    readonly aggregate: A,
    readonly events: object[],
    readonly error?: unknown,
  ) {}

  /** Asserts the command succeeded and decided exactly these events. */
  then(...expected: object[]): A {
    if (this.error !== undefined)
      fail(`expected events, but the command threw ${String(this.error)}`);
    deepStrictEqual(this.events, expected);
    return this.aggregate;
  }

  /** Asserts the command threw this error class (and, if given, with this code) and decided nothing. */
  thenThrows(errorClass: abstract new (...args: never[]) => Error, code?: string): Error {
    ok(
      this.error instanceof errorClass,
      `expected ${errorClass.name}, got ${String(this.error ?? 'no error')}`,
    );
    if (code !== undefined) deepStrictEqual((this.error as { code?: string }).code, code);
    deepStrictEqual(this.events, [], 'a rejected command must not decide events');
    return this.error;
  }
}
