import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Stored first responses of POSTs that carried an Idempotency-Key (CONTRACT §3). */
export class IdempotencyKeys1764200000005 implements MigrationInterface {
  name = 'IdempotencyKeys1764200000005';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE idempotency_keys (
        key text PRIMARY KEY,
        request_hash text NOT NULL,
        status_code int,
        body jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        locked_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE idempotency_keys`);
  }
}
