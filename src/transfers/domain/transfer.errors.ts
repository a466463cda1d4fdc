import { DomainError } from '../../event-sourcing/index.js';

export class SameAccountError extends DomainError {
  readonly code = 'SAME_ACCOUNT';
  readonly kind = 'rejected';
  constructor() {
    super('a transfer needs two different accounts');
  }
}

export class CurrencyMismatchError extends DomainError {
  readonly code = 'CURRENCY_MISMATCH';
  readonly kind = 'rejected';
  constructor(from: string, to: string) {
    super(`money never moves between currencies (${from} -> ${to})`);
  }
}

export class TransferNotFoundError extends DomainError {
  readonly code = 'TRANSFER_NOT_FOUND';
  readonly kind = 'not_found';
  constructor(transferId: string) {
    super(`transfer ${transferId} does not exist`);
  }
}

export class TransferAlreadyExistsError extends DomainError {
  readonly code = 'TRANSFER_ALREADY_EXISTS';
  readonly kind = 'conflict';
  constructor(transferId: string) {
    super(`transfer ${transferId} already exists`);
  }
}
