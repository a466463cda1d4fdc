import { randomUUID } from 'node:crypto';
import type { NewEvent } from '../../src/event-sourcing/index.js';

// The stored shape of the account events (schema v2), as the app serializes them.
const SCHEMA_VERSION = 2;

export function accountOpened(accountId: string, initialDeposit = 100): NewEvent {
  return {
    type: 'AccountOpened',
    schemaVersion: SCHEMA_VERSION,
    data: { accountId, ownerId: `owner-${accountId.slice(0, 8)}`, currency: 'USD', initialDeposit },
    metadata: { correlationId: 'bench', causationId: 'bench' },
  };
}

export function moneyDeposited(accountId: string, amount = 1): NewEvent {
  return {
    type: 'MoneyDeposited',
    schemaVersion: SCHEMA_VERSION,
    data: { accountId, amount },
    metadata: { correlationId: 'bench', causationId: 'bench' },
  };
}

/** The events of one append to a stream now at `version`: AccountOpened first, then deposits. */
export function nextEvents(accountId: string, version: number, count: number): NewEvent[] {
  return Array.from({ length: count }, (_, i) =>
    version + 1 + i === 0 ? accountOpened(accountId) : moneyDeposited(accountId),
  );
}

/**
 * The baseline's append: one multi-row INSERT (autocommit) of the same types and data, at the
 * versions the writer believes are next. Into the store's own `events` table, it writes the
 * columns the store writes too (`event_id`, `schema_version`, `metadata`): the least an append
 * to that table costs, with no check and nothing returned.
 */
export function rawInsert(
  streamId: string,
  fromVersion: number,
  events: NewEvent[],
  table = 'raw_events',
): { text: string; values: unknown[] } {
  const full = table === 'events';
  const columns = ['stream_id', 'version', 'type', 'data'];
  if (full) columns.push('event_id', 'schema_version', 'metadata');
  const values: unknown[] = [];
  const tuples = events.map((e, i) => {
    values.push(streamId, fromVersion + i, e.type, JSON.stringify(e.data));
    if (full) values.push(randomUUID(), e.schemaVersion, JSON.stringify(e.metadata ?? {}));
    const p = i * columns.length;
    return `(${columns.map((_, c) => `$${p + c + 1}`).join(', ')})`;
  });
  return {
    text: `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`,
    values,
  };
}
