import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { AggregateRepository, type ExecuteOptions } from '../event-sourcing/index.js';
import type { AccountCommandResult } from './account-command-result.js';
import { Account } from './domain/account.aggregate.js';

export class CloseAccountCommand extends Command<AccountCommandResult> {
  constructor(
    readonly accountId: string,
    readonly options: ExecuteOptions,
  ) {
    super();
  }
}

@CommandHandler(CloseAccountCommand)
export class CloseAccountHandler implements ICommandHandler<CloseAccountCommand> {
  constructor(private readonly accounts: AggregateRepository) {}

  async execute({ accountId, options }: CloseAccountCommand): Promise<AccountCommandResult> {
    const result = await this.accounts.execute(
      Account,
      accountId,
      (account) => account.close(),
      options,
    );
    return { accountId, ...result };
  }
}
