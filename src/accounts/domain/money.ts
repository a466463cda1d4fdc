import { BalanceLimitError, InvalidAmountError } from './account.errors.js';

/** The largest amount one command may move: 10^11 minor units (CONTRACT §2). */
export const MAX_AMOUNT = 100_000_000_000;

/** A non-negative amount of integer minor units (cents); never a float. */
export class Money {
  static readonly zero = new Money(0);

  private constructor(readonly minor: number) {}

  /** An amount a command moves: an integer from 1 to {@link MAX_AMOUNT}. @throws InvalidAmountError */
  static amount(minor: unknown): Money {
    if (!Number.isSafeInteger(minor) || (minor as number) < 1 || (minor as number) > MAX_AMOUNT) {
      throw new InvalidAmountError(minor);
    }
    return new Money(minor as number);
  }

  /** A stored balance (trusted: it comes from the events). */
  static of(minor: number): Money {
    return new Money(minor);
  }

  /** @throws BalanceLimitError past Number.MAX_SAFE_INTEGER, where JSON integers stop being exact */
  plus(other: Money): Money {
    const sum = this.minor + other.minor;
    if (!Number.isSafeInteger(sum)) throw new BalanceLimitError();
    return new Money(sum);
  }

  minus(other: Money): Money {
    return new Money(this.minor - other.minor);
  }

  isLessThan(other: Money): boolean {
    return this.minor < other.minor;
  }
}
