/** A PostgreSQL schema name the event store accepts: a plain lower-case identifier. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]*$/;

/** The SQL names of the event store's own tables, ready to put into a statement. */
export interface EventStoreTables {
  events: string;
  checkpoints: string;
  snapshots: string;
  parked: string;
}

/**
 * Checks a schema name for the event store (option `schema`, `EVENT_STORE_SCHEMA`,
 * `tallyMigrations({ schema })`). Undefined passes (no schema: unqualified table names).
 * @throws when it is not a plain identifier (`/^[a-z_][a-z0-9_]*$/`)
 */
export function assertSchemaName(schema: string | undefined): void {
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new Error(
      `event store schema must be a plain lower-case identifier matching ${SCHEMA_NAME} (got ${JSON.stringify(schema)})`,
    );
  }
}

/**
 * The event store's tables (`events`, `projection_checkpoints`, `snapshots`, `parked_events`) in
 * `schema`, as `"schema"."events"`; without a schema, the unqualified names (the connection's
 * search_path decides). @throws when the schema is not a plain identifier
 */
export function eventStoreTables(schema?: string): EventStoreTables {
  assertSchemaName(schema);
  const name = (table: string) => (schema === undefined ? table : `"${schema}"."${table}"`);
  return {
    events: name('events'),
    checkpoints: name('projection_checkpoints'),
    snapshots: name('snapshots'),
    parked: name('parked_events'),
  };
}
