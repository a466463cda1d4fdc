import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Read model of the transfers context. */
export class TransferReadModel1764200000004 implements MigrationInterface {
  name = 'TransferReadModel1764200000004';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE "transfer_summaries" (
        "transfer_id" uuid NOT NULL,
        "from_account_id" uuid NOT NULL,
        "to_account_id" uuid NOT NULL,
        "amount" bigint NOT NULL,
        "status" text NOT NULL,
        "reason" text,
        "requested_at" TIMESTAMP WITH TIME ZONE NOT NULL,
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL,
        CONSTRAINT "PK_transfer_summaries" PRIMARY KEY ("transfer_id")
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE "transfer_summaries"`);
  }
}
