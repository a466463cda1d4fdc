import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { v5 as uuidv5 } from 'uuid';
import { Account } from '../accounts/domain/account.aggregate.js';
import { AccountNotFoundError } from '../accounts/domain/account.errors.js';
import { AggregateRepository, type CommandMetadata } from '../event-sourcing/index.js';
import { Transfer } from './domain/transfer.aggregate.js';
import { CurrencyMismatchError, SameAccountError } from './domain/transfer.errors.js';

export interface TransferAccepted {
  transferId: string;
  position: number;
}

/** Starts a transfer; the saga moves the money. Checks only what can be known at once. */
export class RequestTransferCommand extends Command<TransferAccepted> {
  constructor(
    readonly fromAccountId: string,
    readonly toAccountId: string,
    readonly amount: number,
    readonly metadata: CommandMetadata,
    /** Derived from the command id, so a retried request starts the same transfer. */
    readonly transferId: string = uuidv5('transfer', metadata.commandId),
  ) {
    super();
  }
}

@CommandHandler(RequestTransferCommand)
export class RequestTransferHandler implements ICommandHandler<RequestTransferCommand> {
  constructor(private readonly repository: AggregateRepository) {}

  async execute({
    transferId,
    fromAccountId,
    toAccountId,
    amount,
    metadata,
  }: RequestTransferCommand): Promise<TransferAccepted> {
    if (fromAccountId === toAccountId) throw new SameAccountError();
    const [from, to] = await Promise.all([
      this.repository.load(Account, fromAccountId),
      this.repository.load(Account, toAccountId),
    ]);
    if (!from.status) throw new AccountNotFoundError(fromAccountId);
    if (!to.status) throw new AccountNotFoundError(toAccountId);
    if (from.currency !== to.currency) throw new CurrencyMismatchError(from.currency, to.currency);
    const { position } = await this.repository.execute(
      Transfer,
      transferId,
      (transfer) => transfer.request(fromAccountId, toAccountId, amount, from.currency),
      { expectedVersion: -1, metadata },
    );
    return { transferId, position };
  }
}
