import type { MessagePort } from 'node:worker_threads';
import { assertSchemaName } from './tables.js';

export const EVENT_SOURCING_OPTIONS = Symbol('EVENT_SOURCING_OPTIONS');

/** Settings of `EventSourcingModule.forRoot()`; every field has a default. */
export interface EventSourcingOptions {
  /** Take an aggregate snapshot every N events (aggregates that declare a snapshot revision). Default 50. */
  snapshotEvery?: number;
  /** Run the global-log processors (projections and sagas) in this process. Default true. */
  runProcessors?: boolean;
  /** Events a processor reads and applies in one transaction. Default 500. */
  batchSize?: number;
  /**
   * Events a rebuild reads and applies at once (each handler's `handleBatch` gets them in one
   * call). Default 20,000, or `batchSize` if larger. A page is counted in events, not bytes, and a
   * rebuild holds two at a time (20,000 small events took about 8 MB of heap): with large events,
   * set it so that two pages fit in memory.
   */
  rebuildPageSize?: number;
  /** Attempts at an event that keeps failing before it is parked (or the projection stops). Default 5. */
  poisonAfterAttempts?: number;
  /** What a projection does with such an event: `park` it and move on, or `stop`. Default park. */
  onPoison?: 'park' | 'stop';
  /**
   * A processor's batch that runs this long (a handler whose promise does not settle, a database
   * that does not answer) shows it `failing`, with an error saying so, until the batch ends; in
   * ms, up to 2,147,483,647 (a timer's limit); 0 turns it off. Default 30,000.
   */
  batchStuckAfterMs?: number;
  /** Poll of the log when no notification arrives (events written by scripts), in ms. Default 250. */
  pollIntervalMs?: number;
  /** How long `?minPosition=` waits for a read model, in ms. Default 5000. */
  readWaitTimeoutMs?: number;
  /** How long a read without `?minPosition=` waits for this process's own last write, in ms. Default 1000. */
  ownWritesWaitMs?: number;
  /**
   * Aggregates (those with snapshots) whose latest state this process keeps in memory, so a
   * command on a recently used one appends without reading its stream first. Default 10,000; 0 turns it off.
   */
  aggregateCacheSize?: number;
  /** Retries of a command that lost an optimistic-concurrency race. */
  commandRetry?: { maxAttempts?: number; baseDelayMs?: number };
  /**
   * PostgreSQL schema of the event store's own tables (`events`, `projection_checkpoints`,
   * `snapshots`, `parked_events`), a plain identifier (`/^[a-z_][a-z0-9_]*$/`). Create them there
   * with `tallyMigrations({ schema })`. Read models and `idempotency_keys` stay in the host
   * DataSource's schema. Default: unset, unqualified names (the connection's search_path).
   */
  schema?: string;
  /**
   * A port to this module in another thread of the process, on the same database: typically the
   * processors in a worker thread (`runProcessors: true` there, false here), so that they have an
   * event loop of their own. This thread's appends wake them at once, with their positions; their
   * progress wakes this thread's read-your-writes waits; `GET /projections` here shows their
   * status (`failing` once that thread has posted nothing for 5 s: a thread that runs processors
   * posts `alive` every second). The module closes the port when the application closes.
   * Default: none.
   */
  peer?: MessagePort;
}

export interface ResolvedEventSourcingOptions {
  snapshotEvery: number;
  runProcessors: boolean;
  batchSize: number;
  rebuildPageSize: number;
  pollIntervalMs: number;
  poisonAfterAttempts: number;
  batchStuckAfterMs: number;
  onPoison: 'park' | 'stop';
  readWaitTimeoutMs: number;
  ownWritesWaitMs: number;
  aggregateCacheSize: number;
  commandRetry: { maxAttempts: number; baseDelayMs: number };
  schema?: string;
  peer?: MessagePort;
}

/** Fills in the defaults. @throws when `schema` is not a plain identifier */
export function resolveOptions(options: EventSourcingOptions = {}): ResolvedEventSourcingOptions {
  assertSchemaName(options.schema);
  return {
    snapshotEvery: options.snapshotEvery ?? 50,
    runProcessors: options.runProcessors ?? true,
    batchSize: options.batchSize ?? 500,
    rebuildPageSize: options.rebuildPageSize ?? Math.max(options.batchSize ?? 500, 20_000),
    pollIntervalMs: options.pollIntervalMs ?? 250,
    poisonAfterAttempts: options.poisonAfterAttempts ?? 5,
    onPoison: options.onPoison ?? 'park',
    batchStuckAfterMs: timerMs('batchStuckAfterMs', options.batchStuckAfterMs ?? 30_000),
    readWaitTimeoutMs: options.readWaitTimeoutMs ?? 5000,
    ownWritesWaitMs: options.ownWritesWaitMs ?? 1000,
    aggregateCacheSize: options.aggregateCacheSize ?? 10_000,
    commandRetry: {
      maxAttempts: options.commandRetry?.maxAttempts ?? 64,
      baseDelayMs: options.commandRetry?.baseDelayMs ?? 2,
    },
    schema: options.schema,
    peer: options.peer,
  };
}

/** A delay for setTimeout, which fires at once for anything past 2^31-1 ms (or not a number). */
function timerMs(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 2_147_483_647) {
    throw new Error(`${name} must be an integer from 0 to 2147483647 (ms), not ${value}`);
  }
  return value;
}
