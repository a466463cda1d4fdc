import { EventsHandler } from '@nestjs/cqrs';
import {
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

// A batch in one statement, each column an array (the events in log order), folded per account
// in SQL. Events at or below the version of the account's row are left out (a replay, in part or
// in full); an account's row is then written if it exists, or created if the batch opens the
// account. `last` marks each account's event of the highest version in the batch, whose time
// becomes updated_at. Placeholders in the inserted row of an existing account (owner, currency,
// opened_at) are never written: ON CONFLICT sets only the balance, status, version and
// updated_at.
const UPSERT = `WITH e AS (
    SELECT e.*, s.version AS row_version FROM unnest($1::uuid[], $2::int[], $3::bigint[],
      $4::bool[], $5::bool[], $6::timestamptz[], $7::text[], $8::text[])
      AS e(account_id, version, delta, closes, last, at, owner_id, currency)
    LEFT JOIN account_summaries s USING (account_id)),
  f AS (
    SELECT account_id, max(version) AS version, sum(delta)::bigint AS delta,
      bool_or(closes) AS closes, max(at) FILTER (WHERE last) AS at, max(owner_id) AS owner_id,
      max(currency) AS currency, max(at) FILTER (WHERE owner_id IS NOT NULL) AS opened_at,
      bool_or(row_version IS NOT NULL) AS has_row
    FROM e WHERE row_version IS NULL OR version > row_version
    GROUP BY account_id)
  INSERT INTO account_summaries AS s
    (account_id, owner_id, currency, balance, status, version, opened_at, updated_at)
  SELECT account_id, coalesce(owner_id, ''), coalesce(currency, ''), delta,
    CASE WHEN closes THEN 'closed' ELSE 'open' END, version, coalesce(opened_at, at), at
  FROM f WHERE has_row OR owner_id IS NOT NULL
  ON CONFLICT (account_id) DO UPDATE SET balance = s.balance + EXCLUDED.balance,
    status = CASE WHEN EXCLUDED.status = 'closed' THEN 'closed' ELSE s.status END,
    version = EXCLUDED.version, updated_at = EXCLUDED.updated_at`;

/**
 * Keeps {@link AccountSummary}: one statement per batch (UPSERT above), deferred (it goes with
 * the batch's commit); an event at or below the row's version (a replay) changes nothing.
 */
@Projection({ name: ACCOUNT_SUMMARY, tables: [AccountSummary] })
@EventsHandler(AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed)
export class AccountSummaryProjection implements ProjectionHandler<AccountEvent> {
  handle(_event: AccountEvent, { manager, envelope, defer }: ProjectionContext): Promise<void> {
    return this.handleBatch([envelope as EventEnvelope<AccountEvent>], { manager, defer });
  }

  async handleBatch(
    envelopes: EventEnvelope<AccountEvent>[],
    { defer }: Pick<ProjectionContext, 'manager' | 'defer'>,
  ) {
    defer(UPSERT, columnsOf(envelopes));
  }
}

/** UPSERT's parameters: one array per column, an element per event. */
function columnsOf(envelopes: EventEnvelope<AccountEvent>[]): unknown[] {
  // Each account's highest version in the batch.
  const highest = new Map<string, number>();
  for (const { event, version } of envelopes) {
    if (version > (highest.get(event.accountId) ?? -1)) highest.set(event.accountId, version);
  }
  const columns: unknown[][] = [[], [], [], [], [], [], [], []];
  const [accountId, versions, delta, closes, last, at, ownerId, currency] = columns;
  for (const { event, version, recordedAt } of envelopes) {
    accountId.push(event.accountId);
    versions.push(version);
    delta.push(
      event instanceof AccountOpened
        ? event.initialDeposit
        : event instanceof MoneyDeposited
          ? event.amount
          : event instanceof MoneyWithdrawn
            ? -event.amount
            : 0,
    );
    closes.push(event instanceof AccountClosed);
    last.push(highest.get(event.accountId) === version);
    at.push(recordedAt);
    ownerId.push(event instanceof AccountOpened ? event.ownerId : null);
    currency.push(event instanceof AccountOpened ? event.currency : null);
  }
  return columns;
}
