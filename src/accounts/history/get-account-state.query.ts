import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { AggregateRepository, DomainError } from '../../event-sourcing/index.js';
import { Account, type AccountStatus } from '../domain/account.aggregate.js';
import { AccountNotFoundError } from '../domain/account.errors.js';

export interface AccountState {
  accountId: string;
  balance: number;
  status: AccountStatus;
  version: number;
}

export class VersionNotFoundError extends DomainError {
  readonly code = 'VERSION_NOT_FOUND';
  readonly kind = 'not_found';
  constructor(accountId: string, version: number, current: number) {
    super(`account ${accountId} has no version ${version} (its last version is ${current})`);
  }
}

/** Temporal query: the account rebuilt from its events as of a version or an instant (or now). */
export class GetAccountStateQuery extends Query<AccountState> {
  constructor(
    readonly accountId: string,
    readonly at: { version: number } | { asOf: Date } | undefined,
  ) {
    super();
  }
}

@QueryHandler(GetAccountStateQuery)
export class GetAccountStateHandler implements IQueryHandler<GetAccountStateQuery> {
  constructor(private readonly accounts: AggregateRepository) {}

  async execute({ accountId, at }: GetAccountStateQuery): Promise<AccountState> {
    const account = at
      ? await this.accounts.loadAt(Account, accountId, at)
      : await this.accounts.load(Account, accountId);
    if (!account.status) throw new AccountNotFoundError(accountId);
    if (at && 'version' in at && account.version !== at.version) {
      throw new VersionNotFoundError(accountId, at.version, account.version);
    }
    return {
      accountId,
      balance: account.balance.minor,
      status: account.status,
      version: account.version,
    };
  }
}
