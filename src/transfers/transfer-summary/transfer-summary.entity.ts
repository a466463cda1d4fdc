import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintTransformer } from '../../common/bigint.transformer.js';

/** Read model: one row per transfer, as GET /transfers/:id shows it. */
@Entity('transfer_summaries')
export class TransferSummary {
  @PrimaryColumn('uuid', { name: 'transfer_id' })
  transferId: string;

  @Column('uuid', { name: 'from_account_id' })
  fromAccountId: string;

  @Column('uuid', { name: 'to_account_id' })
  toAccountId: string;

  @Column('bigint', { transformer: bigintTransformer })
  amount: number;

  @Column('text')
  status: 'pending' | 'completed' | 'failed';

  @Column('text', { nullable: true })
  reason: string | null;

  @Column('timestamptz', { name: 'requested_at' })
  requestedAt: Date;

  @Column('timestamptz', { name: 'updated_at' })
  updatedAt: Date;
}
