import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The append-only event store and the processors' checkpoints (CONTRACT §5, ARCHITECTURE §1-2). */
export class EventStore1764200000000 implements MigrationInterface {
  name = 'EventStore1764200000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE events (
        global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        stream_id text NOT NULL,
        version int NOT NULL CHECK (version >= 0),
        event_id uuid NOT NULL DEFAULT gen_random_uuid(),
        type text NOT NULL,
        schema_version int NOT NULL DEFAULT 1,
        data jsonb NOT NULL DEFAULT '{}',
        metadata jsonb NOT NULL DEFAULT '{}',
        recorded_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
        transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
        CONSTRAINT events_stream_version UNIQUE (stream_id, version),
        CONSTRAINT events_event_id UNIQUE (event_id)
      )`);
    // The processors read the log in (transaction_id, global_position) order.
    await db.query(`CREATE INDEX events_log_order ON events (transaction_id, global_position)`);
    await db.query(`
      CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP;
      END $$`);
    await db.query(`
      CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events
      FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()`);
    await db.query(`
      CREATE TABLE projection_checkpoints (
        name text PRIMARY KEY,
        transaction_id xid8 NOT NULL DEFAULT '0',
        global_position bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE projection_checkpoints`);
    await db.query(`DROP TABLE events`);
    await db.query(`DROP FUNCTION events_append_only()`);
  }
}
