import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Global, Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CommandBus, CqrsModule, EventsHandler } from '@nestjs/cqrs';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AccountsModule } from '../../src/accounts/accounts.module.js';
import { Account } from '../../src/accounts/domain/account.aggregate.js';
import { AccountOpened } from '../../src/accounts/domain/account.events.js';
import { OpenAccountCommand } from '../../src/accounts/open-account.command.js';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import {
  EventRegistry,
  EventSourcedAggregate,
  EventSourcingModule,
  GlobalLogProcessor,
  Projection,
  type EventSourcedAggregate as Aggregate,
  type ProjectionHandler,
} from '../../src/event-sourcing/index.js';
import { createTestDatabase } from '../support/database.js';

// A dependency of the projection, from a module passed through forFeature({ imports }).
@Injectable()
class OpenedAccounts {
  readonly ids: string[] = [];
}

@Module({ providers: [OpenedAccounts], exports: [OpenedAccounts] })
class OpenedAccountsModule {}

@Projection({ name: 'feature-opened-accounts' })
@EventsHandler(AccountOpened)
class OpenedAccountsProjection implements ProjectionHandler<AccountOpened> {
  constructor(private readonly opened: OpenedAccounts) {}

  async handle(event: AccountOpened): Promise<void> {
    this.opened.ids.push(event.accountId);
  }
}

// Projections of two handler classes each, one of which declares rebuildByStream: first, then last.
@Projection({ name: 'feature-first-declares', rebuildByStream: true })
@EventsHandler(AccountOpened)
class FirstDeclares implements ProjectionHandler<AccountOpened> {
  async handle(): Promise<void> {}
}
@Projection({ name: 'feature-first-declares' })
@EventsHandler(AccountOpened)
class ThenNot implements ProjectionHandler<AccountOpened> {
  async handle(): Promise<void> {}
}
@Projection({ name: 'feature-last-declares' })
@EventsHandler(AccountOpened)
class FirstNot implements ProjectionHandler<AccountOpened> {
  async handle(): Promise<void> {}
}
@Projection({ name: 'feature-last-declares', rebuildByStream: true })
@EventsHandler(AccountOpened)
class LastDeclares implements ProjectionHandler<AccountOpened> {
  async handle(): Promise<void> {}
}

@Module({
  imports: [
    EventSourcingModule.forFeature({
      events: [],
      projections: [OpenedAccountsProjection, FirstDeclares, ThenNot, FirstNot, LastDeclares],
      imports: [OpenedAccountsModule],
    }),
  ],
})
class OpenedAccountsFeature {}

function appModule(databaseUrl: string, ...features: unknown[]) {
  @Module({
    imports: [
      TypeOrmModule.forRoot(dataSourceOptions(databaseUrl)),
      CqrsModule.forRoot(),
      EventSourcingModule.forRoot({ pollIntervalMs: 100 }),
      AccountsModule,
      ...(features as []),
    ],
  })
  class TestModule {}
  return TestModule;
}

describe('EventSourcingModule.forFeature', () => {
  let databaseUrl: string;
  let app: INestApplicationContext;

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    app = await NestFactory.createApplicationContext(
      appModule(databaseUrl, OpenedAccountsFeature),
      { logger: false, abortOnError: false },
    );
    await app.init();
  });
  afterAll(() => app?.close());

  it('provides the projections with their imported dependencies, found and run by the processor', async () => {
    const processor = app.get(GlobalLogProcessor);
    expect((await processor.list()).map((p) => p.name)).toEqual(
      expect.arrayContaining(['feature-opened-accounts', 'account-summary']),
    );
    const result = await app.get(CommandBus).execute(
      new OpenAccountCommand('feature', 'EUR', 0, {
        commandId: '6b0f7d0e-2f55-4b8e-9d51-3d2cf0a8a001',
        correlationId: 'feature',
      }),
    );
    await processor.waitForPosition('feature-opened-accounts', result.position, 20_000);
    expect(app.get(OpenedAccounts, { strict: false }).ids).toContain(result.accountId);
  });

  it('rebuilds a projection stream by stream only if every handler class of it says so', () => {
    const { runners } = app.get(GlobalLogProcessor) as unknown as {
      runners: Map<string, { definition: { rebuildByStream: boolean } }>;
    };
    const byStream = (name: string) => runners.get(name)?.definition.rebuildByStream;
    expect(byStream('account-summary')).toBe(true);
    expect(byStream('feature-opened-accounts')).toBe(false);
    expect(byStream('feature-first-declares')).toBe(false);
    expect(byStream('feature-last-declares')).toBe(false);
  });

  it('records the aggregates of each context', () => {
    expect(app.get(EventRegistry).aggregates.get('Account')).toBe(Account);
  });

  it('refuses an aggregate that is not an EventSourcedAggregate subclass', () => {
    class NotAnAggregate {}
    expect(() =>
      EventSourcingModule.forFeature({
        events: [],
        aggregates: [NotAnAggregate as unknown as new (id: string) => Aggregate],
      }),
    ).toThrow(
      'forFeature({ aggregates }): NotAnAggregate is not a subclass of EventSourcedAggregate',
    );
  });

  it('stops the start when two contexts register different aggregates with one name', async () => {
    const Other = (() => {
      // Another context's aggregate that happens to share the accounts context's class name.
      class Account extends EventSourcedAggregate {}
      return Account;
    })();
    // Fails while the providers are built, before any connection: a stand-in DataSource will do.
    @Global()
    @Module({ providers: [{ provide: DataSource, useValue: {} }], exports: [DataSource] })
    class NoDatabase {}
    @Module({
      imports: [
        NoDatabase,
        CqrsModule.forRoot(),
        EventSourcingModule.forRoot(),
        EventSourcingModule.forFeature({ events: [], aggregates: [Account] }),
        EventSourcingModule.forFeature({ events: [], aggregates: [Other] }),
      ],
    })
    class ClashingApp {}
    await expect(
      NestFactory.createApplicationContext(ClashingApp, { logger: false, abortOnError: false }),
    ).rejects.toThrow('two different aggregate classes are named Account');
  });
});
