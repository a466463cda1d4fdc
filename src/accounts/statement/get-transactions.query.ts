import { InjectRepository } from '@nestjs/typeorm';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { MoreThan, type Repository } from 'typeorm';
import { ReadModelGate } from '../../event-sourcing/index.js';
import { AccountSummary } from '../account-summary/account-summary.entity.js';
import { ACCOUNT_SUMMARY } from '../account-summary/account-summary.projection.js';
import { AccountNotFoundError } from '../domain/account.errors.js';
import { StatementLine } from './statement-line.entity.js';
import { ACCOUNT_STATEMENT } from './statement.projection.js';

export interface TransactionItem {
  version: number;
  type: 'credit' | 'debit';
  amount: number;
  balanceAfter: number;
  occurredAt: Date;
  transferId?: string;
}

export interface TransactionsPage {
  items: TransactionItem[];
  /** The `after` of the next page, or null on the last one. */
  next: number | null;
}

export class GetTransactionsQuery extends Query<TransactionsPage> {
  constructor(
    readonly accountId: string,
    readonly limit: number,
    readonly after?: number,
    readonly minPosition?: number,
  ) {
    super();
  }
}

@QueryHandler(GetTransactionsQuery)
export class GetTransactionsHandler implements IQueryHandler<GetTransactionsQuery> {
  constructor(
    @InjectRepository(StatementLine) private readonly lines: Repository<StatementLine>,
    @InjectRepository(AccountSummary) private readonly summaries: Repository<AccountSummary>,
    private readonly gate: ReadModelGate,
  ) {}

  async execute({
    accountId,
    limit,
    after,
    minPosition,
  }: GetTransactionsQuery): Promise<TransactionsPage> {
    await this.gate.waitFor(ACCOUNT_STATEMENT, minPosition);
    const rows = await this.lines.find({
      where: { accountId, ...(after === undefined ? {} : { version: MoreThan(after) }) },
      order: { version: 'ASC' },
      take: limit + 1,
    });
    if (rows.length === 0) {
      // No lines: tell "no movements yet" from "no such account" with the summary read model,
      // which must have reached the same position.
      await this.gate.waitFor(ACCOUNT_SUMMARY, minPosition);
      if (!(await this.summaries.existsBy({ accountId })))
        throw new AccountNotFoundError(accountId);
    }
    const items = rows
      .slice(0, limit)
      .map(({ version, type, amount, balanceAfter, occurredAt, transferId }) => ({
        version,
        type,
        amount,
        balanceAfter,
        occurredAt,
        ...(transferId ? { transferId } : {}),
      }));
    return { items, next: rows.length > limit ? items[items.length - 1].version : null };
  }
}
