import type { INestApplication } from '@nestjs/common';
import pg from 'pg';
import { createApp } from '../../src/app.js';
import type { EventSourcingOptions } from '../../src/event-sourcing/index.js';
import { createTestDatabase } from '../../test/support/database.js';

/**
 * Connections of the baseline pools and of the app's DataSource pool alike: the app's default
 * (DATABASE_POOL_SIZE), or BENCH_POOL_SIZE.
 */
export const POOL_SIZE = poolSize(process.env.BENCH_POOL_SIZE || undefined);

function poolSize(raw = '20'): number {
  const size = Number(raw);
  // The app's own least (DATABASE_POOL_SIZE).
  if (!Number.isInteger(size) || size < 5)
    throw new Error(`BENCH_POOL_SIZE: 5 or more, not ${raw}`);
  return size;
}

// The baseline: the least a store must do, one multi-row INSERT per append on a minimal table.
const RAW_EVENTS = `CREATE TABLE IF NOT EXISTS raw_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  stream_id text NOT NULL,
  version int NOT NULL,
  type text NOT NULL,
  data jsonb NOT NULL,
  UNIQUE (stream_id, version)
)`;

export interface BenchDatabase {
  url: string;
  /** A raw `pg` pool on the same database, with `raw_events` created. */
  raw: pg.Pool;
  close(): Promise<void>;
}

/** A fresh migrated database (a copy of the run's template) with the baseline table. */
export async function freshDatabase(): Promise<BenchDatabase> {
  const url = await createTestDatabase();
  const raw = new pg.Pool({ connectionString: url, max: POOL_SIZE });
  await raw.query(RAW_EVENTS);
  return { url, raw, close: () => raw.end() };
}

/** The real app on `url`, initialised but not listening; it logs warnings and errors only. */
export async function startApp(
  url: string,
  eventSourcing: EventSourcingOptions = {},
  snapshotEvery = 50,
): Promise<INestApplication> {
  const app = await createApp({
    databaseUrl: url,
    snapshotEvery,
    eventSourcing,
    logLevel: 'warn',
    poolSize: POOL_SIZE,
  });
  await app.init();
  return app;
}

/** The server's `version()` string. */
export async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ version: string }>('SELECT version()');
    return rows[0].version;
  } finally {
    await client.end();
  }
}
