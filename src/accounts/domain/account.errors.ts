import { DomainError } from '../../event-sourcing/index.js';

export class AccountNotFoundError extends DomainError {
  readonly code = 'ACCOUNT_NOT_FOUND';
  readonly kind = 'not_found';
  constructor(accountId: string) {
    super(`account ${accountId} does not exist`);
  }
}

export class InsufficientFundsError extends DomainError {
  readonly code = 'INSUFFICIENT_FUNDS';
  readonly kind = 'rejected';
  constructor(balance: number, amount: number) {
    super(`cannot withdraw ${amount} from a balance of ${balance}`);
  }
}

export class AccountClosedError extends DomainError {
  readonly code = 'ACCOUNT_CLOSED';
  readonly kind = 'rejected';
  constructor(accountId: string) {
    super(`account ${accountId} is closed`);
  }
}

export class BalanceNotZeroError extends DomainError {
  readonly code = 'BALANCE_NOT_ZERO';
  readonly kind = 'rejected';
  constructor(balance: number) {
    super(`only an account with a balance of 0 can be closed (balance is ${balance})`);
  }
}

export class BalanceLimitError extends DomainError {
  readonly code = 'BALANCE_LIMIT_EXCEEDED';
  readonly kind = 'rejected';
  constructor() {
    super(`the balance would exceed ${Number.MAX_SAFE_INTEGER} minor units`);
  }
}

export class AccountAlreadyExistsError extends DomainError {
  readonly code = 'ACCOUNT_ALREADY_EXISTS';
  readonly kind = 'conflict';
  constructor(accountId: string) {
    super(`account ${accountId} already exists`);
  }
}

export class InvalidAmountError extends DomainError {
  readonly code = 'VALIDATION_FAILED';
  readonly kind = 'invalid';
  constructor(amount: unknown) {
    super(
      `amount must be an integer number of minor units from 1 to 100000000000 (got ${String(amount)})`,
    );
  }
}
