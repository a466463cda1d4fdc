import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { AggregateRepository, type ExecuteOptions } from '../event-sourcing/index.js';
import type { AccountCommandResult } from './account-command-result.js';
import { Account } from './domain/account.aggregate.js';

/** Gives a failed transfer's money back to its source account (applied at most once). */
export class RefundTransferCommand extends Command<AccountCommandResult> {
  constructor(
    readonly accountId: string,
    readonly amount: number,
    readonly transferId: string,
    readonly options: ExecuteOptions,
  ) {
    super();
  }
}

@CommandHandler(RefundTransferCommand)
export class RefundTransferHandler implements ICommandHandler<RefundTransferCommand> {
  constructor(private readonly accounts: AggregateRepository) {}

  async execute({
    accountId,
    amount,
    transferId,
    options,
  }: RefundTransferCommand): Promise<AccountCommandResult> {
    const result = await this.accounts.execute(
      Account,
      accountId,
      (a) => a.refund(amount, transferId),
      options,
    );
    return { accountId, ...result };
  }
}
