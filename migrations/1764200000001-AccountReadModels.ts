import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Read models of the accounts context: account summaries and statement lines. */
export class AccountReadModels1764200000001 implements MigrationInterface {
  name = 'AccountReadModels1764200000001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE "account_summaries" (
        "account_id" uuid NOT NULL,
        "owner_id" text NOT NULL,
        "currency" text NOT NULL,
        "balance" bigint NOT NULL,
        "status" text NOT NULL,
        "version" integer NOT NULL,
        "opened_at" TIMESTAMP WITH TIME ZONE NOT NULL,
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL,
        CONSTRAINT "PK_account_summaries" PRIMARY KEY ("account_id")
      )`);
    await db.query(
      `CREATE INDEX "account_summaries_owner" ON "account_summaries" ("owner_id", "opened_at")`,
    );
    await db.query(`
      CREATE TABLE "statement_lines" (
        "account_id" uuid NOT NULL,
        "version" integer NOT NULL,
        "type" text NOT NULL,
        "amount" bigint NOT NULL,
        "balance_after" bigint NOT NULL,
        "occurred_at" TIMESTAMP WITH TIME ZONE NOT NULL,
        "transfer_id" uuid,
        CONSTRAINT "PK_statement_lines" PRIMARY KEY ("account_id", "version")
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE "statement_lines"`);
    await db.query(`DROP TABLE "account_summaries"`);
  }
}
