// The DataSource the TypeORM CLI uses (npm run migration:run / migration:generate).
// It reads DATABASE_URL; without it, the embedded database under ./data (as `npm start` uses).
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { ensureDatabase, withDatabase } from './src/database/database-admin.js';
import { loadConfig } from './src/config/config.js';
import { dataSourceOptions } from './src/database/data-source-options.js';
import { startEmbeddedDatabase } from './src/database/embedded-database.js';

async function url(): Promise<string> {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
  const embedded = await startEmbeddedDatabase({ dir: `${process.env.DATA_DIR || 'data'}/pg` });
  await ensureDatabase(embedded.url, 'tally');
  return withDatabase(embedded.url, 'tally');
}

export default new DataSource(
  dataSourceOptions(await url(), loadConfig(process.env).eventStoreSchema),
);
