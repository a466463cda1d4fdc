import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { AggregateRepository, type ExecuteOptions } from '../event-sourcing/index.js';
import type { AccountCommandResult } from './account-command-result.js';
import { Account } from './domain/account.aggregate.js';

export class DepositMoneyCommand extends Command<AccountCommandResult> {
  constructor(
    readonly accountId: string,
    readonly amount: number,
    readonly options: ExecuteOptions,
  ) {
    super();
  }
}

@CommandHandler(DepositMoneyCommand)
export class DepositMoneyHandler implements ICommandHandler<DepositMoneyCommand> {
  constructor(private readonly accounts: AggregateRepository) {}

  async execute({
    accountId,
    amount,
    options,
  }: DepositMoneyCommand): Promise<AccountCommandResult> {
    const result = await this.accounts.execute(
      Account,
      accountId,
      (account) => account.deposit(amount),
      options,
    );
    return { accountId, ...result };
  }
}
