import type { JsonObject, Upcaster } from '../../event-sourcing/index.js';

/**
 * Schema v1 (the original design, CONTRACT §5): amounts are decimal major units (10.5 is 10.50),
 * there is no currency (it was always USD), and a `timestamp` sat inside `data` (the stored
 * `recorded_at` is the time that counts). v2: integer minor units and a currency.
 */
export function toMinorUnits(major: unknown): number {
  const value = typeof major === 'string' ? Number(major) : major;
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new Error(`not a decimal amount: ${String(major)}`);
  return Math.round(value * 100);
}

const withoutTimestamp = ({ timestamp: _timestamp, ...rest }: JsonObject): JsonObject => rest;

export const accountUpcasters: Upcaster[] = [
  {
    type: 'AccountOpened',
    fromVersion: 1,
    upcast: (data) => ({
      ...withoutTimestamp(data),
      currency: 'USD',
      initialDeposit: toMinorUnits(data.initialDeposit ?? 0),
    }),
  },
  {
    type: 'MoneyDeposited',
    fromVersion: 1,
    upcast: (data) => ({ ...withoutTimestamp(data), amount: toMinorUnits(data.amount) }),
  },
  {
    type: 'MoneyWithdrawn',
    fromVersion: 1,
    upcast: (data) => ({ ...withoutTimestamp(data), amount: toMinorUnits(data.amount) }),
  },
  { type: 'AccountClosed', fromVersion: 1, upcast: withoutTimestamp },
];
