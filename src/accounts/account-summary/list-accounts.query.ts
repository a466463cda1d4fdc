import { InjectRepository } from '@nestjs/typeorm';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import type { Repository } from 'typeorm';
import { ReadModelGate } from '../../event-sourcing/index.js';
import { AccountSummary } from './account-summary.entity.js';
import { ACCOUNT_SUMMARY } from './account-summary.projection.js';

export class ListAccountsQuery extends Query<{ items: AccountSummary[] }> {
  constructor(
    readonly ownerId: string,
    readonly minPosition?: number,
  ) {
    super();
  }
}

@QueryHandler(ListAccountsQuery)
export class ListAccountsHandler implements IQueryHandler<ListAccountsQuery> {
  constructor(
    @InjectRepository(AccountSummary) private readonly summaries: Repository<AccountSummary>,
    private readonly gate: ReadModelGate,
  ) {}

  async execute({ ownerId, minPosition }: ListAccountsQuery): Promise<{ items: AccountSummary[] }> {
    await this.gate.waitFor(ACCOUNT_SUMMARY, minPosition);
    const items = await this.summaries.find({
      where: { ownerId },
      order: { openedAt: 'ASC', accountId: 'ASC' },
    });
    return { items };
  }
}
