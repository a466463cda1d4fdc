import type { DataSource } from 'typeorm';

// Any constant works; it only has to be the same in every instance of the app.
const MIGRATION_LOCK = 7_265_001;

/** Runs pending migrations, one instance at a time (several may start together on one database). */
export async function runMigrations(dataSource: DataSource): Promise<DataSource> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await dataSource.runMigrations({ transaction: 'each' });
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await runner.release();
  }
  return dataSource;
}
