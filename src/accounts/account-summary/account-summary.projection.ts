import { EventsHandler } from '@nestjs/cqrs';
import {
  arrayParameter,
  Projection,
  type EventEnvelope,
  type ProjectionContext,
  type ProjectionHandler,
} from '../../event-sourcing/index.js';
import {
  AccountClosed,
  AccountOpened,
  MoneyDeposited,
  MoneyWithdrawn,
} from '../domain/account.events.js';
import { AccountSummary } from './account-summary.entity.js';

export const ACCOUNT_SUMMARY = 'account-summary';

type AccountEvent = AccountOpened | MoneyDeposited | MoneyWithdrawn | AccountClosed;

// A batch in one statement: folded per account in memory, one row per account (its first and last
// version in the batch), and each event's account (its place among those rows, from 1), version,
// amount and whether it closes. An account's row is written when the batch goes on from it (the
// row's version is below the batch's first), or created when the batch opens the account. When
// the row is inside the batch's versions (a replay of part of it), only the events above the row
// count (`partial`); a replay of all of it changes nothing. Per event, only numbers travel (the
// uuids and times go once per account). Placeholders in the inserted row of an existing account
// (owner, currency, opened_at) are never written: ON CONFLICT sets only the balance, status,
// version and updated_at.
const UPSERT = `WITH f AS (
    SELECT f.*, s.version AS row_version FROM unnest($1::uuid[], $2::int[], $3::int[],
      $4::bigint[], $5::bool[], $6::timestamptz[], $7::text[], $8::text[], $9::timestamptz[])
      WITH ORDINALITY
      AS f(account_id, first_version, version, delta, closes, at, owner_id, currency, opened_at, k)
    LEFT JOIN account_summaries s USING (account_id)),
  partial AS (
    SELECT f.k, sum(e.delta)::bigint AS delta, bool_or(e.closes) AS closes
    FROM f JOIN unnest($10::int[], $11::int[], $12::bigint[], $13::bool[])
      AS e(k, version, delta, closes) ON e.k = f.k AND e.version > f.row_version
    WHERE f.row_version >= f.first_version AND f.row_version < f.version
    GROUP BY f.k)
  INSERT INTO account_summaries AS s
    (account_id, owner_id, currency, balance, status, version, opened_at, updated_at)
  SELECT account_id, coalesce(owner_id, ''), coalesce(currency, ''), coalesce(p.delta, f.delta),
    CASE WHEN coalesce(p.closes, f.closes) THEN 'closed' ELSE 'open' END, version,
    coalesce(opened_at, at), at
  FROM f LEFT JOIN partial p USING (k)
  WHERE CASE WHEN row_version IS NULL THEN owner_id IS NOT NULL
    ELSE row_version < first_version OR p.k IS NOT NULL END
  ON CONFLICT (account_id) DO UPDATE SET balance = s.balance + EXCLUDED.balance,
    status = CASE WHEN EXCLUDED.status = 'closed' THEN 'closed' ELSE s.status END,
    version = EXCLUDED.version, updated_at = EXCLUDED.updated_at`;

interface Folded {
  accountId: string;
  firstVersion: number;
  version: number;
  delta: number;
  closes: boolean;
  at: Date;
  opened?: { ownerId: string; currency: string; at: Date };
}

/**
 * Keeps {@link AccountSummary}: one statement per batch (UPSERT above), deferred (it goes with
 * the batch's commit); an event at or below the row's version (a replay) changes nothing.
 */
@Projection({ name: ACCOUNT_SUMMARY, tables: [AccountSummary], rebuildByStream: true })
@EventsHandler(AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed)
export class AccountSummaryProjection implements ProjectionHandler<AccountEvent> {
  handle(_event: AccountEvent, { manager, envelope, defer }: ProjectionContext): Promise<void> {
    return this.handleBatch([envelope as EventEnvelope<AccountEvent>], { manager, defer });
  }

  async handleBatch(
    envelopes: EventEnvelope<AccountEvent>[],
    { defer }: Pick<ProjectionContext, 'manager' | 'defer'>,
  ) {
    defer(UPSERT, parametersOf(envelopes));
  }
}

/** An event's change to its account's balance. */
function deltaOf(event: AccountEvent): number {
  if (event instanceof AccountOpened) return event.initialDeposit;
  if (event instanceof MoneyDeposited) return event.amount;
  if (event instanceof MoneyWithdrawn) return -event.amount;
  return 0;
}

/**
 * UPSERT's parameters: each account's events of the batch (in log order) as one change, a column
 * per array; then each event's account (its place among them, from 1), version, delta and close.
 */
function parametersOf(envelopes: EventEnvelope<AccountEvent>[]): unknown[] {
  const byAccount = new Map<string, Folded & { k: number }>();
  const events: [number[], number[], number[], boolean[]] = [[], [], [], []];
  for (const { event, version, recordedAt } of envelopes) {
    let change = byAccount.get(event.accountId);
    if (!change) {
      change = {
        accountId: event.accountId,
        k: byAccount.size + 1,
        firstVersion: version,
        version,
        delta: 0,
        closes: false,
        at: recordedAt,
      };
      byAccount.set(event.accountId, change);
    }
    const delta = deltaOf(event);
    const closes = event instanceof AccountClosed;
    change.version = version;
    change.at = recordedAt;
    change.delta += delta;
    change.closes ||= closes;
    if (event instanceof AccountOpened) {
      change.opened = { ownerId: event.ownerId, currency: event.currency, at: recordedAt };
    }
    events[0].push(change.k);
    events[1].push(version);
    events[2].push(delta);
    events[3].push(closes);
  }
  const changes = [...byAccount.values()];
  return [
    arrayParameter(changes.map((c) => c.accountId)),
    arrayParameter(changes.map((c) => c.firstVersion)),
    arrayParameter(changes.map((c) => c.version)),
    arrayParameter(changes.map((c) => c.delta)),
    arrayParameter(changes.map((c) => c.closes)),
    changes.map((c) => c.at),
    changes.map((c) => c.opened?.ownerId ?? null),
    changes.map((c) => c.opened?.currency ?? null),
    changes.map((c) => c.opened?.at ?? null),
    ...events.map(arrayParameter),
  ];
}
