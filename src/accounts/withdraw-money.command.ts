import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { AggregateRepository, type ExecuteOptions } from '../event-sourcing/index.js';
import type { AccountCommandResult } from './account-command-result.js';
import { Account } from './domain/account.aggregate.js';

export class WithdrawMoneyCommand extends Command<AccountCommandResult> {
  constructor(
    readonly accountId: string,
    readonly amount: number,
    readonly options: ExecuteOptions,
  ) {
    super();
  }
}

@CommandHandler(WithdrawMoneyCommand)
export class WithdrawMoneyHandler implements ICommandHandler<WithdrawMoneyCommand> {
  constructor(private readonly accounts: AggregateRepository) {}

  async execute({
    accountId,
    amount,
    options,
  }: WithdrawMoneyCommand): Promise<AccountCommandResult> {
    const result = await this.accounts.execute(
      Account,
      accountId,
      (account) => account.withdraw(amount),
      options,
    );
    return { accountId, ...result };
  }
}
