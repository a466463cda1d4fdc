import type { MigrationInterface, QueryRunner } from 'typeorm';
import { assertSchemaName } from '../src/event-sourcing/tables.js';
import { EventStore1764200000000 } from './1764200000000-EventStore.js';
import { AccountReadModels1764200000001 } from './1764200000001-AccountReadModels.js';
import { Snapshots1764200000002 } from './1764200000002-Snapshots.js';
import { ParkedEvents1764200000003 } from './1764200000003-ParkedEvents.js';
import { TransferReadModel1764200000004 } from './1764200000004-TransferReadModel.js';
import { IdempotencyKeys1764200000005 } from './1764200000005-IdempotencyKeys.js';
import { IdempotencyBodyText1764200000006 } from './1764200000006-IdempotencyBodyText.js';

/** Every migration, in order. Listed, not globbed: the same under node, nest build and Jest. */
export const migrations = [
  EventStore1764200000000,
  AccountReadModels1764200000001,
  Snapshots1764200000002,
  ParkedEvents1764200000003,
  TransferReadModel1764200000004,
  IdempotencyKeys1764200000005,
  IdempotencyBodyText1764200000006,
];

/**
 * The migrations to run, with the event store's own tables (`events`, `projection_checkpoints`,
 * `snapshots`, `parked_events`, and the append-only trigger function) created in `schema` when one
 * is given (it is created if missing); pass the same `schema` to `EventSourcingModule.forRoot`.
 * The read models and `idempotency_keys` stay in the DataSource's schema, and so does TypeORM's
 * `migrations` table. Without a schema: {@link migrations}, unchanged.
 * @throws when `schema` is not a plain identifier (`/^[a-z_][a-z0-9_]*$/`)
 */
export function tallyMigrations(options: { schema?: string } = {}): MigrationClass[] {
  const { schema } = options;
  assertSchemaName(schema);
  if (schema === undefined) return migrations;
  return migrations.map((migration) =>
    EVENT_STORE_MIGRATIONS.includes(migration) ? inSchema(migration, schema) : migration,
  );
}

type MigrationClass = new () => MigrationInterface;

/** The released migrations that create the event store's own tables. */
const EVENT_STORE_MIGRATIONS: MigrationClass[] = [
  EventStore1764200000000,
  Snapshots1764200000002,
  ParkedEvents1764200000003,
];

/**
 * The released migration, unchanged, run with `search_path` set to `schema` alone (restored
 * afterwards), so its unqualified names land there. Same `name`: a database migrated with or
 * without a schema records the same migrations.
 */
function inSchema(migration: MigrationClass, schema: string): MigrationClass {
  const createSchema = `CREATE SCHEMA IF NOT EXISTS "${schema}"`;
  const run = async (db: QueryRunner, step: () => Promise<void>, create: boolean) => {
    if (create) await db.query(createSchema);
    const [{ path }] = await db.query(`SELECT current_setting('search_path') AS path`);
    await db.query(`SELECT set_config('search_path', $1, false)`, [`"${schema}"`]);
    try {
      await step();
    } catch (error) {
      // In a failed transaction the setting is rolled back with it; outside one, restore it.
      await db.query(`SELECT set_config('search_path', $1, false)`, [path]).catch(() => undefined);
      throw error;
    }
    await db.query(`SELECT set_config('search_path', $1, false)`, [path]);
  };
  return class extends migration {
    override async up(db: QueryRunner): Promise<void> {
      await run(db, () => super.up(db), true);
    }

    override async down(db: QueryRunner): Promise<void> {
      await run(db, () => super.down(db), false);
    }
  };
}
