import { DomainEvent } from '../../event-sourcing/index.js';

@DomainEvent('TransferRequested')
export class TransferRequested {
  constructor(
    readonly transferId: string,
    readonly fromAccountId: string,
    readonly toAccountId: string,
    readonly amount: number,
    readonly currency: string,
  ) {}
}

/** The money left the source account (its MoneyWithdrawn carries the transfer id). */
@DomainEvent('TransferDebited')
export class TransferDebited {
  constructor(readonly transferId: string) {}
}

/** The money reached the target account: final. */
@DomainEvent('TransferCompleted')
export class TransferCompleted {
  constructor(readonly transferId: string) {}
}

/** Final: `reason` is the contract code of the failing step; any debit was refunded before. */
@DomainEvent('TransferFailed')
export class TransferFailed {
  constructor(
    readonly transferId: string,
    readonly reason: string,
  ) {}
}

export const transferEvents = [
  TransferRequested,
  TransferDebited,
  TransferCompleted,
  TransferFailed,
];
