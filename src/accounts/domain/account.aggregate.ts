import { EventSourcedAggregate, type JsonObject } from '../../event-sourcing/index.js';
import {
  AccountAlreadyExistsError,
  AccountClosedError,
  AccountNotFoundError,
  BalanceNotZeroError,
  InsufficientFundsError,
} from './account.errors.js';
import { AccountClosed, AccountOpened, MoneyDeposited, MoneyWithdrawn } from './account.events.js';
import { Money } from './money.js';

export type AccountStatus = 'open' | 'closed';

/** A bank account: its stream id is its account id. */
export class Account extends EventSourcedAggregate {
  static override snapshotRevision = 1;

  ownerId = '';
  currency = '';
  balance = Money.zero;
  status?: AccountStatus;
  /** Transfer steps already applied (`D:<transferId>` deposit, `W:<transferId>` withdrawal). */
  private readonly transferSteps = new Set<string>();

  open(ownerId: string, currency: string, initialDeposit: number): void {
    if (this.status) throw new AccountAlreadyExistsError(this.id);
    const deposit = initialDeposit === 0 ? Money.zero : Money.amount(initialDeposit);
    this.apply(new AccountOpened(this.id, ownerId, currency, deposit.minor));
  }

  /** With a `transferId`, a step already applied is a no-op: a replayed saga step is harmless. */
  deposit(amount: number, transferId?: string): void {
    if (transferId && this.transferSteps.has(`D:${transferId}`)) return;
    this.assertOpen();
    const money = Money.amount(amount);
    this.balance.plus(money);
    this.apply(new MoneyDeposited(this.id, money.minor, transferId));
  }

  withdraw(amount: number, transferId?: string): void {
    if (transferId && this.transferSteps.has(`W:${transferId}`)) return;
    this.assertOpen();
    const money = Money.amount(amount);
    if (this.balance.isLessThan(money))
      throw new InsufficientFundsError(this.balance.minor, money.minor);
    this.apply(new MoneyWithdrawn(this.id, money.minor, transferId));
  }

  /**
   * Gives back what a transfer that could not complete took from this account: nothing if it took
   * nothing, once if it did; also on an account closed while the transfer was in flight.
   */
  refund(amount: number, transferId: string): void {
    if (!this.transferSteps.has(`W:${transferId}`) || this.transferSteps.has(`D:${transferId}`))
      return;
    if (!this.status) throw new AccountNotFoundError(this.id);
    this.apply(new MoneyDeposited(this.id, Money.amount(amount).minor, transferId));
  }

  close(): void {
    this.assertOpen();
    if (this.balance.minor !== 0) throw new BalanceNotZeroError(this.balance.minor);
    this.apply(new AccountClosed(this.id));
  }

  override toSnapshot(): JsonObject {
    return {
      ownerId: this.ownerId,
      currency: this.currency,
      balance: this.balance.minor,
      status: this.status,
      transferSteps: [...this.transferSteps],
    };
  }

  override fromSnapshot(state: JsonObject): void {
    const { ownerId, currency, balance, status, transferSteps } = state;
    const readable =
      typeof ownerId === 'string' &&
      typeof currency === 'string' &&
      Number.isSafeInteger(balance) &&
      (status === 'open' || status === 'closed') &&
      Array.isArray(transferSteps);
    if (!readable) throw new Error('not an account snapshot');
    Object.assign(this, { ownerId, currency, balance: Money.of(balance as number), status });
    for (const step of transferSteps as string[]) this.transferSteps.add(step);
  }

  private assertOpen(): void {
    if (!this.status) throw new AccountNotFoundError(this.id);
    if (this.status === 'closed') throw new AccountClosedError(this.id);
  }

  protected onAccountOpened(event: AccountOpened): void {
    this.ownerId = event.ownerId;
    this.currency = event.currency;
    this.balance = Money.of(event.initialDeposit);
    this.status = 'open';
  }

  protected onMoneyDeposited(event: MoneyDeposited): void {
    this.balance = this.balance.plus(Money.of(event.amount));
    if (event.transferId) this.transferSteps.add(`D:${event.transferId}`);
  }

  protected onMoneyWithdrawn(event: MoneyWithdrawn): void {
    this.balance = this.balance.minus(Money.of(event.amount));
    if (event.transferId) this.transferSteps.add(`W:${event.transferId}`);
  }

  protected onAccountClosed(): void {
    this.status = 'closed';
  }
}
