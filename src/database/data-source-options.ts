import type { DataSourceOptions } from 'typeorm';
import { tallyMigrations } from '../../migrations/index.js';
import { AccountSummary } from '../accounts/account-summary/account-summary.entity.js';
import { StatementLine } from '../accounts/statement/statement-line.entity.js';
import { TransferSummary } from '../transfers/transfer-summary/transfer-summary.entity.js';

/** Every read entity of the app; the event store itself is plain SQL. */
export const entities = [AccountSummary, StatementLine, TransferSummary];

/**
 * TypeORM options for the app, the TypeORM CLI (ormconfig.ts) and the tests. Never `synchronize`.
 * `eventStoreSchema`: the schema the event store's tables are migrated into (EVENT_STORE_SCHEMA);
 * `poolSize`: the most connections its pool opens.
 */
export function dataSourceOptions(
  url: string,
  eventStoreSchema?: string,
  poolSize = 20,
): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities,
    migrations: tallyMigrations({ schema: eventStoreSchema }),
    migrationsTransactionMode: 'each',
    synchronize: false,
    // 'error' would log every expected unique violation (a lost concurrency race) as a failure.
    logging: ['warn'],
    extra: { max: poolSize },
  };
}
