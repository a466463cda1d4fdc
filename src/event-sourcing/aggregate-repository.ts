import { Inject, Injectable, Logger } from '@nestjs/common';
import { v5 as uuidv5 } from 'uuid';
import type { AggregateClass, EventSourcedAggregate } from './aggregate.js';
import { ConcurrencyError } from './errors.js';
import { EventRegistry, type EventMetadata, type JsonObject } from './event-registry.js';
import { EventStore, type ExpectedVersion } from './event-store.js';
import { SnapshotStore } from './snapshot-store.js';
import { EVENT_SOURCING_OPTIONS, type ResolvedEventSourcingOptions } from './options.js';

/** Who asked for a change: becomes the metadata of every event it appends. */
export interface CommandMetadata {
  /** Id of this command; events it appends get ids derived from it, so a retry stores nothing twice. */
  commandId: string;
  correlationId: string;
  /** What caused the command (an event id for saga steps); defaults to the command id. */
  causationId?: string;
}

export interface ExecuteOptions {
  /** The version the caller saw. When set, a mismatch is a ConcurrencyError and is not retried. */
  expectedVersion?: number;
  metadata: CommandMetadata;
}

export interface CommandResult {
  /** Stream version after the command (unchanged when it decided nothing). */
  version: number;
  /** Global position of the last event the command appended (or of the stream's last event). */
  position: number;
}

/**
 * Loads aggregates from their streams and appends what they decide, with optimistic concurrency.
 */
@Injectable()
export class AggregateRepository {
  private readonly logger = new Logger('AggregateRepository');
  private readonly snapshotWrites = new Set<Promise<void>>();
  /** Latest state of recently saved aggregates, least recently saved first (see {@link execute}). */
  private readonly cache = new Map<string, CachedState>();

  constructor(
    private readonly store: EventStore,
    private readonly snapshots: SnapshotStore,
    private readonly registry: EventRegistry,
    @Inject(EVENT_SOURCING_OPTIONS) private readonly options: ResolvedEventSourcingOptions,
  ) {}

  /** Rehydrates an aggregate: its latest snapshot (if any) and the events after it; version -1 when it has none. */
  load<A extends EventSourcedAggregate>(type: AggregateClass<A>, id: string): Promise<A> {
    return this.rehydrate(type, id);
  }

  /**
   * The aggregate as it was at a version, or at an instant (the events recorded at or before it),
   * using only a snapshot at or below that version. Version -1 when the stream had no events by
   * then; compare `version` with the one asked for.
   */
  async loadAt<A extends EventSourcedAggregate>(
    type: AggregateClass<A>,
    id: string,
    at: { version: number } | { asOf: Date },
  ): Promise<A> {
    const version = 'version' in at ? at.version : await this.store.lastVersionAt(id, at.asOf);
    return version < 0 ? new type(id) : this.rehydrate(type, id, version);
  }

  /**
   * The result of a command whose events are already in the stream: the retry of a command whose
   * first answer was lost. Looks for the ids of its first events (commands append few).
   */
  private async alreadyExecuted(
    streamId: string,
    commandId: string,
  ): Promise<CommandResult | undefined> {
    const ids = Array.from({ length: 8 }, (_, i) => eventIdOf(commandId, i));
    const stored = (await this.store.readEvents(ids)).filter((e) => e.streamId === streamId);
    const last = stored[stored.length - 1];
    return last && { version: last.version, position: last.position };
  }

  /** Waits for snapshot writes still in flight (they never delay a command). */
  async flushSnapshots(): Promise<void> {
    await Promise.all([...this.snapshotWrites]);
  }

  private async rehydrate<A extends EventSourcedAggregate>(
    type: AggregateClass<A>,
    id: string,
    toVersion?: number,
  ): Promise<A> {
    let aggregate = new type(id);
    const revision = type.snapshotRevision;
    const snapshot =
      revision === undefined ? undefined : await this.snapshots.latest(id, revision, toVersion);
    if (snapshot) {
      try {
        aggregate.fromSnapshot!(snapshot.state);
        aggregate.version = snapshot.version;
        aggregate.position = snapshot.position;
      } catch (error) {
        this.logger.warn(
          `ignoring unreadable snapshot of ${id} at version ${snapshot.version}: ${String(error)}`,
        );
        aggregate = new type(id);
      }
    }
    const stored = await this.store.readStream(id, {
      fromVersion: aggregate.version + 1,
      toVersion,
    });
    const envelopes = stored.map((e) => this.registry.read(e));
    aggregate.loadFromHistory(envelopes.map((e) => e.event));
    const last = envelopes[envelopes.length - 1];
    if (last) {
      aggregate.version = last.version;
      aggregate.position = last.position;
    }
    return aggregate;
  }

  /** Every `snapshotEvery` events, a snapshot is written in the background; a failure only logs. */
  private maybeSnapshot(
    type: AggregateClass<EventSourcedAggregate>,
    aggregate: EventSourcedAggregate,
    before: number,
  ): void {
    const every = this.options.snapshotEvery;
    const revision = type.snapshotRevision;
    if (revision === undefined || !aggregate.toSnapshot) return;
    if (Math.floor((aggregate.version + 1) / every) === Math.floor((before + 1) / every)) return;
    const snapshot = {
      streamId: aggregate.id,
      version: aggregate.version,
      position: aggregate.position,
      revision,
      state: aggregate.toSnapshot(),
    };
    const write: Promise<void> = this.snapshots
      .save(snapshot)
      .catch((error) =>
        this.logger.warn(
          `snapshot of ${aggregate.id} at ${snapshot.version} not written: ${String(error)}`,
        ),
      )
      .finally(() => this.snapshotWrites.delete(write));
    this.snapshotWrites.add(write);
  }

  /**
   * Appends the aggregate's uncommitted events at the version it was loaded at.
   * @throws ConcurrencyError when another writer got there first.
   */
  async save(aggregate: EventSourcedAggregate, metadata: CommandMetadata): Promise<CommandResult> {
    const pending = aggregate.getUncommittedEvents();
    if (pending.length === 0) return { version: aggregate.version, position: aggregate.position };
    const eventMetadata: EventMetadata = {
      correlationId: metadata.correlationId,
      causationId: metadata.causationId ?? metadata.commandId,
    };
    const expected: ExpectedVersion = aggregate.version;
    const before = aggregate.version;
    const appended = pending.length; // uncommit() empties `pending` itself
    // Forgotten until the append succeeds: whatever it ends in, the cache cannot be ahead of the store.
    this.cache.delete(aggregate.id);
    const result = await this.store.append(
      aggregate.id,
      pending.map((event, i) => ({
        ...this.registry.serialize(event),
        eventId: eventIdOf(metadata.commandId, i),
        metadata: eventMetadata,
      })),
      expected,
    );
    aggregate.uncommit();
    aggregate.version = result.version;
    aggregate.position = result.position;
    // Below that version, the store answered with the events of an earlier run of this command (a
    // retry): this instance applied them twice, so its state is not the stream's and is not kept.
    if (result.version === before + appended) this.remember(aggregate);
    this.maybeSnapshot(
      aggregate.constructor as AggregateClass<EventSourcedAggregate>,
      aggregate,
      before,
    );
    return { version: result.version, position: result.position };
  }

  /**
   * A command decided on the cached state, which may be behind the store (another instance may
   * have written since). The decision only counts if it appends events: the append's exact
   * expected version then proves the state was current. Anything else (a rule that refused, no
   * event to append, a version the caller did not expect, a lost race) returns undefined, and the
   * command is decided again on a fresh load.
   */
  private async tryOnCached<A extends EventSourcedAggregate>(
    aggregate: A,
    decide: (aggregate: A) => void,
    options: ExecuteOptions,
  ): Promise<CommandResult | undefined> {
    const expected = options.expectedVersion;
    if (expected !== undefined && expected !== aggregate.version) return undefined;
    try {
      decide(aggregate);
    } catch {
      return undefined;
    }
    if (aggregate.getUncommittedEvents().length === 0) return undefined;
    try {
      return await this.save(aggregate, options.metadata);
    } catch (error) {
      if (error instanceof ConcurrencyError) return undefined;
      throw error;
    }
  }

  /** A fresh instance built from the cached state, or undefined. */
  private cached<A extends EventSourcedAggregate>(
    type: AggregateClass<A>,
    id: string,
  ): A | undefined {
    const entry = this.cache.get(id);
    if (!entry || entry.type !== type) return undefined;
    const aggregate = new type(id);
    try {
      aggregate.fromSnapshot!(entry.state);
    } catch {
      this.cache.delete(id);
      return undefined;
    }
    aggregate.version = entry.version;
    aggregate.position = entry.position;
    return aggregate;
  }

  private remember(aggregate: EventSourcedAggregate): void {
    const type = aggregate.constructor as AggregateClass<EventSourcedAggregate>;
    const size = this.options.aggregateCacheSize;
    if (size <= 0 || type.snapshotRevision === undefined || !aggregate.toSnapshot) return;
    const { version, position } = aggregate;
    this.cache.set(aggregate.id, { type, version, position, state: aggregate.toSnapshot() });
    if (this.cache.size > size) this.cache.delete(this.cache.keys().next().value!);
  }

  /**
   * Load, decide, save: the body of a command handler. Without `expectedVersion` a lost race is
   * retried against the new state (bounded, with jitter), so the rules are checked again.
   * @throws ConcurrencyError when `expectedVersion` is stale or the retries run out; whatever `decide` throws.
   */
  async execute<A extends EventSourcedAggregate>(
    type: AggregateClass<A>,
    id: string,
    decide: (aggregate: A) => void,
    options: ExecuteOptions,
  ): Promise<CommandResult> {
    const cached = this.cached(type, id);
    if (cached) {
      const result = await this.tryOnCached(cached, decide, options);
      if (result) return result;
    }
    const { maxAttempts, baseDelayMs } = this.options.commandRetry;
    for (let attempt = 1; ; attempt++) {
      const aggregate = await this.load(type, id);
      if (options.expectedVersion !== undefined && options.expectedVersion !== aggregate.version) {
        const done = await this.alreadyExecuted(id, options.metadata.commandId);
        if (done) return done;
        throw new ConcurrencyError(id, options.expectedVersion, aggregate.version);
      }
      decide(aggregate);
      try {
        return await this.save(aggregate, options.metadata);
      } catch (error) {
        const retry = error instanceof ConcurrencyError && options.expectedVersion === undefined;
        if (!retry || attempt >= maxAttempts) throw error;
        await sleep(baseDelayMs * Math.min(attempt, 8) * (0.5 + Math.random()));
      }
    }
  }
}

interface CachedState {
  type: AggregateClass<EventSourcedAggregate>;
  version: number;
  position: number;
  state: JsonObject;
}

/** The id of the i-th event a command appends: a retried command finds its own events. */
const eventIdOf = (commandId: string, i: number) => uuidv5(`${i}`, commandId);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
