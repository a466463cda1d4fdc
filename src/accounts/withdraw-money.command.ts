import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { AggregateRepository, type ExecuteOptions } from '../event-sourcing/index.js';
import type { AccountCommandResult } from './account-command-result.js';
import { Account } from './domain/account.aggregate.js';

export class WithdrawMoneyCommand extends Command<AccountCommandResult> {
  constructor(
    readonly accountId: string,
    readonly amount: number,
    readonly options: ExecuteOptions,
    /** Set when a transfer moves the money: the step is then applied at most once. */
    readonly transferId?: string,
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
    transferId,
  }: WithdrawMoneyCommand): Promise<AccountCommandResult> {
    const result = await this.accounts.execute(
      Account,
      accountId,
      (account) => account.withdraw(amount, transferId),
      options,
    );
    return { accountId, ...result };
  }
}
