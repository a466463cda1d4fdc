import { Injectable, type Type } from '@nestjs/common';
import { EventSchemaError } from './errors.js';

/** A class whose instances are domain events (the @nestjs/cqrs buses route by class). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type EventClass<E extends object = object> = new (...args: any[]) => E;

/** Plain JSON object as stored in `events.data` and `events.metadata`. */
export type JsonObject = Record<string, unknown>;

/** What the store keeps of every event besides its data. */
export interface EventMetadata extends JsonObject {
  correlationId?: string;
  causationId?: string;
}

/** One row of the `events` table, as read. */
export interface StoredEvent {
  eventId: string;
  streamId: string;
  version: number;
  position: number;
  type: string;
  schemaVersion: number;
  data: JsonObject;
  metadata: EventMetadata;
  recordedAt: Date;
}

/** A stored event upcast to the current schema, with the event class instance built from it. */
export interface EventEnvelope<E extends object = object> extends StoredEvent {
  event: E;
}

/**
 * Turns the data of one stored schema version into the next one
 * (`fromVersion` -> `fromVersion + 1`). Chains run until the class's current version.
 */
export interface Upcaster {
  type: string;
  fromVersion: number;
  upcast(data: JsonObject, stored: StoredEvent): JsonObject;
}

interface EventTypeInfo {
  type: string;
  schemaVersion: number;
}

const typeInfo = new WeakMap<EventClass, EventTypeInfo>();

/**
 * Declares the stable stored name and current schema version of an event class. The name is
 * what the store keeps; renaming the class changes nothing on disk.
 */
export function DomainEvent(type: string, options: { schemaVersion?: number } = {}) {
  return (target: EventClass): void => {
    typeInfo.set(target, { type, schemaVersion: options.schemaVersion ?? 1 });
  };
}

/** The stored name and schema version of an event class, or of an event instance's class. */
export function eventTypeOf(eventOrClass: object | EventClass): EventTypeInfo {
  const cls = (
    typeof eventOrClass === 'function' ? eventOrClass : eventOrClass.constructor
  ) as EventClass;
  const info = typeInfo.get(cls);
  if (!info) throw new Error(`${cls.name} is not decorated with @DomainEvent(type)`);
  return info;
}

/**
 * Maps stored type names to event classes and applies upcasters. Every read path (aggregate
 * loads, temporal queries, the processor, the audit trail) goes through {@link EventRegistry.read}.
 */
@Injectable()
export class EventRegistry {
  private readonly classes = new Map<string, EventClass>();
  private readonly upcasters = new Map<string, Upcaster>();
  private readonly aggregateClasses = new Map<string, Type>();

  /** Registers event classes by their @DomainEvent type. @throws when two classes claim one type. */
  register(classes: EventClass[]): void {
    for (const cls of classes) {
      const { type } = eventTypeOf(cls);
      const known = this.classes.get(type);
      if (known && known !== cls) throw new Error(`event type ${type} is registered twice`);
      this.classes.set(type, cls);
    }
  }

  /** Registers upcasters. @throws when two upcasters start from the same type and version. */
  addUpcasters(upcasters: Upcaster[]): void {
    for (const upcaster of upcasters) {
      const key = `${upcaster.type}@${upcaster.fromVersion}`;
      if (this.upcasters.has(key)) throw new Error(`two upcasters for ${key}`);
      this.upcasters.set(key, upcaster);
    }
  }

  /**
   * Records the aggregate classes of a bounded context (`forFeature({ aggregates })`), by class
   * name. @throws when two different classes register under one name (two contexts' aggregates
   * would be indistinguishable in errors, logs and {@link aggregates}).
   */
  registerAggregates(classes: Type[]): void {
    for (const cls of classes) {
      const known = this.aggregateClasses.get(cls.name);
      if (known && known !== cls) {
        throw new Error(
          `two different aggregate classes are named ${cls.name}: rename one (forFeature({ aggregates }))`,
        );
      }
      this.aggregateClasses.set(cls.name, cls);
    }
  }

  /** The aggregate classes registered with `forFeature({ aggregates })`, by class name. */
  get aggregates(): ReadonlyMap<string, Type> {
    return this.aggregateClasses;
  }

  /** The class registered for a stored type name, if any. */
  classFor(type: string): EventClass | undefined {
    return this.classes.get(type);
  }

  /** The type, schema version and JSON data to store for an event instance. */
  serialize(event: object): EventTypeInfo & { data: JsonObject } {
    const info = eventTypeOf(event);
    if (this.classes.get(info.type) !== event.constructor) {
      throw new Error(
        `event type ${info.type} is not registered (add it to forFeature({ events }))`,
      );
    }
    return { ...info, data: JSON.parse(JSON.stringify(event)) as JsonObject };
  }

  /**
   * Upcasts a stored event to its class's current schema and builds the instance.
   * @throws EventSchemaError for an unknown type or a missing upcaster.
   */
  read<E extends object = object>(stored: StoredEvent): EventEnvelope<E> {
    const cls = this.classes.get(stored.type);
    if (!cls)
      throw new EventSchemaError(
        stored.type,
        stored.schemaVersion,
        stored.position,
        'unknown event type',
      );
    const current = eventTypeOf(cls).schemaVersion;
    let { data, schemaVersion } = stored;
    while (schemaVersion < current) {
      const upcaster = this.upcasters.get(`${stored.type}@${schemaVersion}`);
      if (!upcaster) {
        throw new EventSchemaError(
          stored.type,
          stored.schemaVersion,
          stored.position,
          `no upcaster from v${schemaVersion}`,
        );
      }
      data = upcaster.upcast(data, stored);
      schemaVersion += 1;
    }
    if (schemaVersion > current) {
      throw new EventSchemaError(
        stored.type,
        stored.schemaVersion,
        stored.position,
        `newer than v${current}`,
      );
    }
    const event = Object.assign(Object.create(cls.prototype) as E, data);
    // Field by field, as the store builds events: one shape for every envelope, and cheaper than
    // spreading `stored` (in a rebuild's profile, the spread and its garbage took about a tenth).
    const { eventId, streamId, version, position, type, metadata, recordedAt } = stored;
    return {
      eventId,
      streamId,
      version,
      position,
      type,
      schemaVersion,
      data,
      metadata,
      recordedAt,
      event,
    };
  }
}
