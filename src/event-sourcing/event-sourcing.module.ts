import {
  Module,
  type DynamicModule,
  type InjectionToken,
  type ModuleMetadata,
  type Provider,
} from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
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

/** What a bounded context contributes: its event classes and the upcasters of their old schemas. */
export interface EventSourcingFeature {
  events: EventClass[];
  upcasters?: Upcaster[];
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

  /** Registers a bounded context's event classes and upcasters. */
  static forFeature(feature: EventSourcingFeature): DynamicModule {
    const token = Symbol('EventSourcingFeature');
    return {
      module: EventSourcingModule,
      providers: [
        {
          provide: token,
          useFactory: (registry: EventRegistry) => {
            registry.register(feature.events);
            registry.addUpcasters(feature.upcasters ?? []);
            return feature;
          },
          inject: [EventRegistry],
        },
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
