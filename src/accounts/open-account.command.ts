import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { v5 as uuidv5 } from 'uuid';
import { AggregateRepository, type CommandMetadata } from '../event-sourcing/index.js';
import { Account } from './domain/account.aggregate.js';
import type { AccountCommandResult } from './account-command-result.js';

export class OpenAccountCommand extends Command<AccountCommandResult> {
  constructor(
    readonly ownerId: string,
    readonly currency: string,
    readonly initialDeposit: number,
    readonly metadata: CommandMetadata,
    /** Derived from the command id, so a retried command opens the same account. */
    readonly accountId: string = uuidv5('account', metadata.commandId),
  ) {
    super();
  }
}

@CommandHandler(OpenAccountCommand)
export class OpenAccountHandler implements ICommandHandler<OpenAccountCommand> {
  constructor(private readonly accounts: AggregateRepository) {}

  async execute(command: OpenAccountCommand): Promise<AccountCommandResult> {
    const { accountId, ownerId, currency, initialDeposit, metadata } = command;
    const result = await this.accounts.execute(
      Account,
      accountId,
      (account) => account.open(ownerId, currency, initialDeposit),
      { expectedVersion: -1, metadata },
    );
    return { accountId, ...result };
  }
}
