import { describe, expect, it } from '@jest/globals';
import { EventRegistry, type StoredEvent } from '../../event-sourcing/index.js';
import { Account } from './account.aggregate.js';
import {
  AccountClosed,
  AccountOpened,
  accountEvents,
  MoneyDeposited,
  MoneyWithdrawn,
} from './account.events.js';
import { accountUpcasters, toMinorUnits } from './account.upcasters.js';

const id = '3b0a4c55-0000-4000-8000-000000000001';
const registry = new EventRegistry();
registry.register(accountEvents);
registry.addUpcasters(accountUpcasters);

const v1 = (type: string, data: Record<string, unknown>, version = 0): StoredEvent => ({
  eventId: `00000000-0000-4000-8000-00000000000${version}`,
  streamId: id,
  version,
  position: version + 1,
  type,
  schemaVersion: 1,
  data: { ...data, timestamp: '2019-05-01T10:00:00Z' },
  metadata: {},
  recordedAt: new Date('2019-05-01T10:00:00Z'),
});

describe('account upcasters v1 -> v2', () => {
  it('turns AccountOpened into minor units in USD, without the timestamp', () => {
    const { event, data, schemaVersion } = registry.read(
      v1('AccountOpened', { accountId: id, ownerId: 'o', initialDeposit: 10.5 }),
    );
    expect(event).toEqual(new AccountOpened(id, 'o', 'USD', 1050));
    expect(event).toBeInstanceOf(AccountOpened);
    expect(data).toEqual({ accountId: id, ownerId: 'o', currency: 'USD', initialDeposit: 1050 });
    expect(schemaVersion).toBe(2);
  });

  it('turns deposit and withdrawal amounts into minor units', () => {
    expect(registry.read(v1('MoneyDeposited', { accountId: id, amount: 0.29 })).event).toEqual(
      new MoneyDeposited(id, 29),
    );
    expect(registry.read(v1('MoneyWithdrawn', { accountId: id, amount: '12.34' })).event).toEqual(
      new MoneyWithdrawn(id, 1234),
    );
  });

  it('drops the timestamp of AccountClosed', () => {
    expect(registry.read(v1('AccountClosed', { accountId: id })).data).toEqual({ accountId: id });
    expect(registry.read(v1('AccountClosed', { accountId: id })).event).toBeInstanceOf(
      AccountClosed,
    );
  });

  it('refuses an amount that is not a decimal number', () => {
    expect(() => toMinorUnits('ten')).toThrow(/not a decimal amount/);
  });

  it('rehydrates an aggregate from v1 history', () => {
    const history = [
      v1('AccountOpened', { accountId: id, ownerId: 'o', initialDeposit: 100 }, 0),
      v1('MoneyWithdrawn', { accountId: id, amount: 99.99 }, 1),
    ].map((e) => registry.read(e).event);
    const account = new Account(id);
    account.loadFromHistory(history);
    expect(account.balance.minor).toBe(1);
  });

  it('names the event when no upcaster leads to the current schema', () => {
    const bare = new EventRegistry();
    bare.register(accountEvents);
    expect(() =>
      bare.read({ ...v1('MoneyDeposited', { accountId: id, amount: 1 }), position: 42 }),
    ).toThrow('cannot read event MoneyDeposited v1 at position 42: no upcaster from v1');
    expect(() => bare.read({ ...v1('Mystery', {}), position: 7 })).toThrow(
      'cannot read event Mystery v1 at position 7: unknown event type',
    );
  });
});

describe('Account snapshots', () => {
  it('round-trips the state', () => {
    const account = new Account(id);
    account.loadFromHistory([new AccountOpened(id, 'o', 'EUR', 500), new MoneyWithdrawn(id, 200)]);
    const restored = new Account(id);
    restored.fromSnapshot(JSON.parse(JSON.stringify(account.toSnapshot())));
    expect(restored.toSnapshot()).toEqual({
      ownerId: 'o',
      currency: 'EUR',
      balance: 300,
      status: 'open',
      transferSteps: [],
    });
    expect(restored.balance.minor).toBe(300);
  });

  it('refuses a state that is not an account snapshot', () => {
    expect(() => new Account(id).fromSnapshot({ balance: 'lots' })).toThrow(
      'not an account snapshot',
    );
  });
});
