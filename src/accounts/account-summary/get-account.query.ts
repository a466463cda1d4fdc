import { InjectRepository } from '@nestjs/typeorm';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import type { Repository } from 'typeorm';
import { ReadModelGate } from '../../event-sourcing/index.js';
import { AccountNotFoundError } from '../domain/account.errors.js';
import { AccountSummary } from './account-summary.entity.js';
import { ACCOUNT_SUMMARY } from './account-summary.projection.js';

export class GetAccountQuery extends Query<AccountSummary> {
  constructor(
    readonly accountId: string,
    readonly minPosition?: number,
  ) {
    super();
  }
}

@QueryHandler(GetAccountQuery)
export class GetAccountHandler implements IQueryHandler<GetAccountQuery> {
  constructor(
    @InjectRepository(AccountSummary) private readonly summaries: Repository<AccountSummary>,
    private readonly gate: ReadModelGate,
  ) {}

  async execute({ accountId, minPosition }: GetAccountQuery): Promise<AccountSummary> {
    await this.gate.waitFor(ACCOUNT_SUMMARY, minPosition);
    const summary = await this.summaries.findOneBy({ accountId });
    if (!summary) throw new AccountNotFoundError(accountId);
    return summary;
  }
}
