import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A stored first response keeps its text (`json`, not `jsonb`, which orders an object's keys its
 * own way): a repeat gets the same bytes back, not only the same value (CONTRACT §3).
 */
export class IdempotencyBodyText1764200000006 implements MigrationInterface {
  name = 'IdempotencyBodyText1764200000006';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE idempotency_keys ALTER COLUMN body TYPE json USING body::json`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE idempotency_keys ALTER COLUMN body TYPE jsonb USING body::jsonb`);
  }
}
