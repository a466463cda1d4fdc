import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { Account } from '../../../src/accounts/domain/account.aggregate.js';
import { AccountNotFoundError } from '../../../src/accounts/domain/account.errors.js';
import {
  AggregateRepository,
  type CommandMetadata,
  type CommandResult,
} from '../../../src/event-sourcing/index.js';
import { AccountFrozen } from './account-frozen.event.js';

/** The account, as this extension sees it: the accounts context's rules plus `freeze`. */
export class FreezableAccount extends Account {
  frozen = false;

  freeze(reason: string): void {
    if (!this.status) throw new AccountNotFoundError(this.id);
    if (this.frozen) return;
    this.apply(new AccountFrozen(this.id, reason));
  }

  protected onAccountFrozen(): void {
    this.frozen = true;
  }
}

export class FreezeAccountCommand extends Command<CommandResult> {
  constructor(
    readonly accountId: string,
    readonly reason: string,
    readonly metadata: CommandMetadata,
  ) {
    super();
  }
}

@CommandHandler(FreezeAccountCommand)
export class FreezeAccountHandler implements ICommandHandler<FreezeAccountCommand> {
  constructor(private readonly repository: AggregateRepository) {}

  execute({ accountId, reason, metadata }: FreezeAccountCommand): Promise<CommandResult> {
    return this.repository.execute(
      FreezableAccount,
      accountId,
      (account) => account.freeze(reason),
      { metadata },
    );
  }
}
