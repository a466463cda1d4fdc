import { DomainEvent } from '../../event-sourcing/index.js';

/** Schema v2 (CONTRACT §5): amounts in integer minor units, a currency per account. */
@DomainEvent('AccountOpened', { schemaVersion: 2 })
export class AccountOpened {
  constructor(
    readonly accountId: string,
    readonly ownerId: string,
    readonly currency: string,
    readonly initialDeposit: number,
  ) {}
}

@DomainEvent('MoneyDeposited', { schemaVersion: 2 })
export class MoneyDeposited {
  constructor(
    readonly accountId: string,
    readonly amount: number,
    readonly transferId?: string,
  ) {}
}

@DomainEvent('MoneyWithdrawn', { schemaVersion: 2 })
export class MoneyWithdrawn {
  constructor(
    readonly accountId: string,
    readonly amount: number,
    readonly transferId?: string,
  ) {}
}

@DomainEvent('AccountClosed', { schemaVersion: 2 })
export class AccountClosed {
  constructor(readonly accountId: string) {}
}

export const accountEvents = [AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed];
