import { describe, expect, it } from '@jest/globals';
import { AggregateSpec } from '../../event-sourcing/testing/aggregate-spec.js';
import { Account } from './account.aggregate.js';
import {
  AccountAlreadyExistsError,
  AccountClosedError,
  AccountNotFoundError,
  BalanceLimitError,
  BalanceNotZeroError,
  InsufficientFundsError,
  InvalidAmountError,
} from './account.errors.js';
import { AccountClosed, AccountOpened, MoneyDeposited, MoneyWithdrawn } from './account.events.js';

const id = '6f1c1f8e-7c55-4c1b-9b1e-2f5d8c1a0b01';
const account = () => AggregateSpec.for(Account, id);
const opened = (deposit = 0) => new AccountOpened(id, 'owner-1', 'USD', deposit);

describe('Account', () => {
  describe('when it does not exist', () => {
    it('opens with an initial deposit', () => {
      account()
        .given()
        .when((a) => a.open('owner-1', 'USD', 1000))
        .then(opened(1000));
    });

    it('opens with no initial deposit', () => {
      const a = account()
        .given()
        .when((a) => a.open('owner-1', 'EUR', 0))
        .then(new AccountOpened(id, 'owner-1', 'EUR', 0));
      expect(a.balance.minor).toBe(0);
    });

    it.each([-1, 1.5, 100_000_000_001, Number.NaN])(
      'refuses an initial deposit of %p',
      (deposit) => {
        account()
          .given()
          .when((a) => a.open('owner-1', 'USD', deposit))
          .thenThrows(InvalidAmountError, 'VALIDATION_FAILED');
      },
    );

    it.each([
      ['a deposit', (a: Account) => a.deposit(10)],
      ['a withdrawal', (a: Account) => a.withdraw(10)],
      ['a close', (a: Account) => a.close()],
    ])('refuses %s as not found', (_name, command) => {
      account().given().when(command).thenThrows(AccountNotFoundError, 'ACCOUNT_NOT_FOUND');
    });
  });

  describe('when open', () => {
    it('refuses to open twice', () => {
      account()
        .given(opened())
        .when((a) => a.open('owner-1', 'USD', 0))
        .thenThrows(AccountAlreadyExistsError);
    });

    it('takes a deposit', () => {
      const a = account()
        .given(opened(100))
        .when((a) => a.deposit(50))
        .then(new MoneyDeposited(id, 50));
      expect(a.balance.minor).toBe(150);
    });

    it.each([0, -5, 2.5, 100_000_000_001, '10' as unknown as number])(
      'refuses a deposit of %p',
      (amount) => {
        account()
          .given(opened())
          .when((a) => a.deposit(amount))
          .thenThrows(InvalidAmountError);
      },
    );

    it('takes a withdrawal up to the balance', () => {
      const a = account()
        .given(opened(100))
        .when((a) => a.withdraw(100))
        .then(new MoneyWithdrawn(id, 100));
      expect(a.balance.minor).toBe(0);
    });

    it('refuses a withdrawal above the balance', () => {
      account()
        .given(opened(100), new MoneyWithdrawn(id, 30))
        .when((a) => a.withdraw(71))
        .thenThrows(InsufficientFundsError, 'INSUFFICIENT_FUNDS');
    });

    it('refuses a deposit that would take the balance past 2^53', () => {
      const rich = [
        opened(100_000_000_000),
        ...Array.from({ length: 90_070 }, () => new MoneyDeposited(id, 100_000_000_000)),
      ];
      account()
        .given(...rich)
        .when((a) => a.deposit(100_000_000_000))
        .thenThrows(BalanceLimitError, 'BALANCE_LIMIT_EXCEEDED');
    });

    it('closes at a balance of 0', () => {
      account()
        .given(opened(10), new MoneyWithdrawn(id, 10))
        .when((a) => a.close())
        .then(new AccountClosed(id));
    });

    it('refuses to close with money left', () => {
      account()
        .given(opened(10))
        .when((a) => a.close())
        .thenThrows(BalanceNotZeroError, 'BALANCE_NOT_ZERO');
    });

    it('keeps the transfer id on money moved by a transfer', () => {
      const transferId = '0b9d7c1e-1111-4222-8333-944455556666';
      account()
        .given(opened(10))
        .when((a) => a.withdraw(10, transferId))
        .then(new MoneyWithdrawn(id, 10, transferId));
    });
  });

  describe('when a transfer step is replayed', () => {
    const transferId = '0b9d7c1e-1111-4222-8333-944455556666';

    it('applies a transfer withdrawal once', () => {
      account()
        .given(opened(10), new MoneyWithdrawn(id, 10, transferId))
        .when((a) => a.withdraw(10, transferId))
        .then();
    });

    it('applies a transfer deposit once, even on a closed account', () => {
      account()
        .given(
          opened(),
          new MoneyDeposited(id, 5, transferId),
          new MoneyWithdrawn(id, 5),
          new AccountClosed(id),
        )
        .when((a) => a.deposit(5, transferId))
        .then();
    });

    it('refunds a transfer once, even on a closed account', () => {
      const closed = [opened(10), new MoneyWithdrawn(id, 10, transferId), new AccountClosed(id)];
      account()
        .given(...closed)
        .when((a) => a.refund(10, transferId))
        .then(new MoneyDeposited(id, 10, transferId));
      account()
        .given(...closed, new MoneyDeposited(id, 10, transferId))
        .when((a) => a.refund(10, transferId))
        .then();
    });

    it('refunds nothing for a transfer that took nothing', () => {
      account()
        .given(opened(10))
        .when((a) => a.refund(10, transferId))
        .then();
    });

    it('keeps applied steps in its snapshot', () => {
      const a = account()
        .given(opened(10), new MoneyWithdrawn(id, 10, transferId))
        .when(() => undefined)
        .then();
      const restored = new Account(id);
      restored.fromSnapshot(a.toSnapshot());
      restored.withdraw(10, transferId);
      expect(restored.getUncommittedEvents()).toEqual([]);
    });
  });

  describe('when closed', () => {
    const closed = [opened(), new AccountClosed(id)];

    it.each([
      ['a deposit', (a: Account) => a.deposit(10)],
      ['a withdrawal', (a: Account) => a.withdraw(10)],
      ['a second close', (a: Account) => a.close()],
    ])('refuses %s', (_name, command) => {
      account()
        .given(...closed)
        .when(command)
        .thenThrows(AccountClosedError, 'ACCOUNT_CLOSED');
    });
  });
});
