import { EventsHandler, Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { InjectRepository } from '@nestjs/typeorm';
import {
  Column,
  Entity,
  PrimaryColumn,
  type MigrationInterface,
  type QueryRunner,
  type Repository,
} from 'typeorm';
import { MoneyWithdrawn } from '../../../src/accounts/domain/account.events.js';
import {
  Projection,
  ReadModelGate,
  type ProjectionContext,
  type ProjectionHandler,
} from '../../../src/event-sourcing/index.js';

export const LARGE_WITHDRAWALS = 'large-withdrawals';
export const LARGE = 100_000; // 1,000.00

/** Read entity: one row per withdrawal of at least {@link LARGE} minor units. */
@Entity('example_large_withdrawals')
export class LargeWithdrawal {
  @PrimaryColumn('bigint', {
    transformer: { to: (v: number) => v, from: (v: string) => Number(v) },
  })
  position: number;

  @Column('uuid', { name: 'account_id' })
  accountId: string;

  @Column('bigint', { transformer: { to: (v: number) => v, from: (v: string) => Number(v) } })
  amount: number;
}

/** Its table, created by a migration of the host's own. */
export class LargeWithdrawals1800000000000 implements MigrationInterface {
  async up(db: QueryRunner): Promise<void> {
    await db.query(
      `CREATE TABLE example_large_withdrawals (position bigint PRIMARY KEY, account_id uuid NOT NULL, amount bigint NOT NULL)`,
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE example_large_withdrawals`);
  }
}

/** The projection: an ordinary @EventsHandler that writes through the batch's transaction. */
@Projection({ name: LARGE_WITHDRAWALS, tables: [LargeWithdrawal] })
@EventsHandler(MoneyWithdrawn)
export class LargeWithdrawalsProjection implements ProjectionHandler<MoneyWithdrawn> {
  async handle(event: MoneyWithdrawn, { manager, envelope }: ProjectionContext): Promise<void> {
    if (event.amount < LARGE) return;
    await manager.upsert(
      LargeWithdrawal,
      { position: envelope.position, accountId: event.accountId, amount: event.amount },
      ['position'],
    );
  }
}

/** The query over it, answering once the read model has reached `minPosition`. */
export class ListLargeWithdrawalsQuery extends Query<LargeWithdrawal[]> {
  constructor(readonly minPosition?: number) {
    super();
  }
}

@QueryHandler(ListLargeWithdrawalsQuery)
export class ListLargeWithdrawalsHandler implements IQueryHandler<ListLargeWithdrawalsQuery> {
  constructor(
    @InjectRepository(LargeWithdrawal) private readonly rows: Repository<LargeWithdrawal>,
    private readonly gate: ReadModelGate,
  ) {}

  async execute({ minPosition }: ListLargeWithdrawalsQuery): Promise<LargeWithdrawal[]> {
    await this.gate.waitFor(LARGE_WITHDRAWALS, minPosition);
    return this.rows.find({ order: { position: 'ASC' } });
  }
}
