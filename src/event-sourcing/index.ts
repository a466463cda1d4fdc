// The public API of the event-sourcing module: import from here, not from its files.
export { EventSourcedAggregate, type AggregateClass } from './aggregate.js';
export {
  AggregateRepository,
  type CommandMetadata,
  type CommandResult,
  type ExecuteOptions,
} from './aggregate-repository.js';
export {
  ConcurrencyError,
  DomainError,
  EventSchemaError,
  ProjectionNotFoundError,
  ProjectionNotRebuildableError,
  StaleReadModelError,
  TransactionOrderError,
  isConnectionError,
  type DomainErrorKind,
} from './errors.js';
export {
  DomainEvent,
  EventRegistry,
  eventTypeOf,
  type EventClass,
  type EventEnvelope,
  type EventMetadata,
  type JsonObject,
  type StoredEvent,
  type Upcaster,
} from './event-registry.js';
export {
  EventStore,
  LOG_START,
  type AppendResult,
  type ExpectedVersion,
  type LogCheckpoint,
  type LogEvent,
  type NewEvent,
  type StreamRange,
} from './event-store.js';
export {
  EventSourcingModule,
  type EventSourcingAsyncOptions,
  type EventSourcingFeature,
} from './event-sourcing.module.js';
export type { EventSourcingOptions } from './options.js';
export {
  GlobalLogProcessor,
  type ParkedEvent,
  type ProjectionInfo,
} from './processor/global-log-processor.js';
export type { ProjectionStatus } from './processor/projection-runner.js';
export { arrayParameter } from './array-parameter.js';
export {
  DeferredWrites,
  Projection,
  type DeferredWrite,
  type ProjectionContext,
  type ProjectionHandler,
  type ProjectionOptions,
} from './projection.js';
export { ReadModelGate } from './read-model-gate.js';
export { SnapshotStore, type Snapshot } from './snapshot-store.js';
export { assertSchemaName, eventStoreTables, type EventStoreTables } from './tables.js';
export { AggregateSpec, AggregateSpecOutcome } from './testing/aggregate-spec.js';
export { ProjectionSpec } from './testing/projection-spec.js';
