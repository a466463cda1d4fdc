import {
  Module,
  type DynamicModule,
  type InjectionToken,
  type ModuleMetadata,
  type Provider,
  type Type,
} from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { EventSourcedAggregate } from './aggregate.js';
import { AggregateRepository } from './aggregate-repository.js';
import { EventRegistry, type EventClass, type Upcaster } from './event-registry.js';
import { EventStore } from './event-store.js';
import { EVENT_SOURCING_OPTIONS, resolveOptions, type EventSourcingOptions } from './options.js';
import { GlobalLogProcessor } from './processor/global-log-processor.js';
import { ReadModelGate } from './read-model-gate.js';
import { SnapshotStore } from './snapshot-store.js';

export interface EventSourcingAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  useFactory: (...args: never[]) => EventSourcingOptions | Promise<EventSourcingOptions>;
  inject?: InjectionToken[];
}

/** What a bounded context contributes to the event-sourcing module. */
export interface EventSourcingFeature {
  /** Its event classes (`@DomainEvent`). */
  events: EventClass[];
  /** Upcasters of their old stored schemas. */
  upcasters?: Upcaster[];
  /**
   * Its aggregate classes (subclasses of `EventSourcedAggregate`): checked here and recorded in the
   * EventRegistry; two different classes with one name in the app stop the start.
   */
  aggregates?: Type<EventSourcedAggregate>[];
  /**
   * Its projections and sagas (`@Projection` + `@EventsHandler` classes), provided by the returned
   * module; the processor finds them at start.
   */
  projections?: Type[];
  /** Modules the projections depend on, e.g. `TypeOrmModule.forFeature([ReadEntity])`. */
  imports?: ModuleMetadata['imports'];
}

const exported = [
  EventRegistry,
  EventStore,
  SnapshotStore,
  AggregateRepository,
  GlobalLogProcessor,
  ReadModelGate,
];

/**
 * The reusable event-sourcing module. Import `forRoot` once, after the host's
 * `TypeOrmModule.forRoot` (its DataSource is reused), and `forFeature` in each bounded context.
 * Projections are `@Projection` + `@EventsHandler` providers of any module; they are found at start.
 */
@Module({})
export class EventSourcingModule {
  /** Registers the store, the repository and the global-log processor for the whole app. */
  static forRoot(options: EventSourcingOptions = {}): DynamicModule {
    return EventSourcingModule.root({
      provide: EVENT_SOURCING_OPTIONS,
      useValue: resolveOptions(options),
    });
  }

  /** Like {@link forRoot}, with options from a factory (e.g. from the host's ConfigService). */
  static forRootAsync(options: EventSourcingAsyncOptions): DynamicModule {
    return {
      ...EventSourcingModule.root({
        provide: EVENT_SOURCING_OPTIONS,
        useFactory: async (...args: never[]) => resolveOptions(await options.useFactory(...args)),
        inject: options.inject ?? [],
      }),
      imports: [DiscoveryModule, ...(options.imports ?? [])],
    };
  }

  /**
   * Registers a bounded context's event classes, upcasters and aggregates, and provides its
   * projections (with `imports` for their dependencies).
   * @throws when an entry of `aggregates` is not a subclass of EventSourcedAggregate
   */
  static forFeature(feature: EventSourcingFeature): DynamicModule {
    const aggregates = feature.aggregates ?? [];
    for (const aggregate of aggregates) {
      if (
        typeof aggregate !== 'function' ||
        !(aggregate.prototype instanceof EventSourcedAggregate)
      ) {
        const name = typeof aggregate === 'function' ? (aggregate as Type).name : String(aggregate);
        throw new Error(
          `forFeature({ aggregates }): ${name} is not a subclass of EventSourcedAggregate`,
        );
      }
    }
    const token = Symbol('EventSourcingFeature');
    return {
      module: EventSourcingModule,
      imports: feature.imports ?? [],
      providers: [
        {
          provide: token,
          useFactory: (registry: EventRegistry) => {
            registry.register(feature.events);
            registry.addUpcasters(feature.upcasters ?? []);
            registry.registerAggregates(aggregates);
            return feature;
          },
          inject: [EventRegistry],
        },
        ...(feature.projections ?? []),
      ],
    };
  }

  private static root(optionsProvider: Provider): DynamicModule {
    return {
      module: EventSourcingModule,
      global: true,
      imports: [DiscoveryModule],
      providers: [optionsProvider, ...exported],
      exports: exported,
    };
  }
}
