import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Events a projection could not apply (poison events), kept for operators to see and retry. */
export class ParkedEvents1764200000003 implements MigrationInterface {
  name = 'ParkedEvents1764200000003';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE parked_events (
        projection text NOT NULL,
        global_position bigint NOT NULL,
        stream_id text NOT NULL,
        error text NOT NULL,
        attempts int NOT NULL,
        parked_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (projection, global_position)
      )`);
    // Later events of a stream with a parked event wait behind it: looked up on every batch.
    await db.query(`CREATE INDEX parked_events_streams ON parked_events (projection, stream_id)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE parked_events`);
  }
}
