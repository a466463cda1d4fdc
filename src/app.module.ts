import { Module, type DynamicModule } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { MessagePort } from 'node:worker_threads';
import { DataSource } from 'typeorm';
import { AccountsHttpModule } from './accounts/accounts.module.js';
import { AdminModule } from './admin/admin.module.js';
import { OwnershipModule, type OwnerResolver } from './common/http/ownership.js';
import { IdempotencyModule } from './common/idempotency/idempotency.module.js';
import type { AppConfig, LogLevelName } from './config/config.js';
import { dataSourceOptions } from './database/data-source-options.js';
import { runMigrations } from './database/migrate.js';
import { EventSourcingModule, type EventSourcingOptions } from './event-sourcing/index.js';
import { HealthModule } from './health/health.module.js';
import { loggingModule } from './observability/logging.js';
import { TransfersHttpModule } from './transfers/transfers.module.js';

export type AppModuleConfig = Pick<AppConfig, 'snapshotEvery'> &
  Partial<
    Pick<
      AppConfig,
      | 'adminToken'
      | 'production'
      | 'idempotencyTtlHours'
      | 'corsOrigins'
      | 'rateLimitPerMinute'
      | 'eventStoreSchema'
      | 'runProcessors'
    >
  > & {
    databaseUrl: string;
    /** Turns ownership checks on (403 FORBIDDEN on another owner's accounts); off when absent. */
    ownerResolver?: OwnerResolver;
    /** Default `log`; `silent` in tests. */
    logLevel?: LogLevelName | 'silent';
    eventSourcing?: EventSourcingOptions;
    /** The most connections the DataSource's pool opens; default 20. */
    poolSize?: number;
    /** A port to the processor thread's metrics, shown by GET /metrics here (`METRICS_PEER`). */
    metricsPeer?: MessagePort;
  };

/** The standalone app: the accounts and transfers contexts on the event-sourcing module. */
@Module({})
export class AppModule {
  static forRoot(config: AppModuleConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        loggingModule(config.logLevel ?? 'log'),
        TypeOrmModule.forRootAsync({
          useFactory: () =>
            dataSourceOptions(config.databaseUrl, config.eventStoreSchema, config.poolSize),
          dataSourceFactory: async (options) =>
            runMigrations(await new DataSource(options!).initialize()),
        }),
        CqrsModule.forRoot(),
        EventSourcingModule.forRoot({
          snapshotEvery: config.snapshotEvery,
          schema: config.eventStoreSchema,
          runProcessors: config.runProcessors,
          ...config.eventSourcing,
        }),
        AccountsHttpModule,
        TransfersHttpModule,
        IdempotencyModule.forRoot({ ttlHours: config.idempotencyTtlHours }),
        HealthModule,
        ...(config.ownerResolver ? [OwnershipModule.forRoot(config.ownerResolver)] : []),
        // In production, admin routes exist only behind a token (CONTRACT §3 "Admin").
        ...(config.production && !config.adminToken
          ? []
          : [AdminModule.forRoot({ token: config.adminToken, metricsPeer: config.metricsPeer })]),
      ],
    };
  }
}
