import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Aggregate snapshots (caches of state at a stream version), ARCHITECTURE §4. */
export class Snapshots1764200000002 implements MigrationInterface {
  name = 'Snapshots1764200000002';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE snapshots (
        stream_id text NOT NULL,
        version int NOT NULL,
        position bigint NOT NULL,
        revision int NOT NULL,
        state jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (stream_id, version, revision)
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE snapshots`);
  }
}
