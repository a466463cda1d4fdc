import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintTransformer } from '../../common/bigint.transformer.js';

/** Read model: one line per credit or debit of an account, with the balance after it. */
@Entity('statement_lines')
export class StatementLine {
  @PrimaryColumn('uuid', { name: 'account_id' })
  accountId: string;

  @PrimaryColumn('int')
  version: number;

  @Column('text')
  type: 'credit' | 'debit';

  @Column('bigint', { transformer: bigintTransformer })
  amount: number;

  @Column('bigint', { name: 'balance_after', transformer: bigintTransformer })
  balanceAfter: number;

  @Column('timestamptz', { name: 'occurred_at' })
  occurredAt: Date;

  @Column('uuid', { name: 'transfer_id', nullable: true })
  transferId: string | null;
}
