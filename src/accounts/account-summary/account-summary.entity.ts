import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintTransformer } from '../../common/bigint.transformer.js';

/** Read model: one row per account, as GET /accounts/:id shows it. */
@Entity('account_summaries')
@Index('account_summaries_owner', ['ownerId', 'openedAt'])
export class AccountSummary {
  @PrimaryColumn('uuid', { name: 'account_id' })
  accountId: string;

  @Column('text', { name: 'owner_id' })
  ownerId: string;

  @Column('text')
  currency: string;

  @Column('bigint', { transformer: bigintTransformer })
  balance: number;

  @Column('text')
  status: 'open' | 'closed';

  @Column('int')
  version: number;

  @Column('timestamptz', { name: 'opened_at' })
  openedAt: Date;

  @Column('timestamptz', { name: 'updated_at' })
  updatedAt: Date;
}
