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

// A batch in one statement. Its events (each account's in version order) are folded per account
// and upserted; an event applies only above the account's version in the table, and AccountOpened
// only when the account has no row (events of an account without a row apply from its
// AccountOpened in the batch on). So an event applied already (a replay) changes nothing.
// The placeholders in the inserted row of an existing account (owner, currency, opened_at) are
// never written: ON CONFLICT updates only the balance, status, version and updated_at.
const UPSERT = `WITH e AS (
    SELECT * FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bool[], $5::timestamptz[],
      $6::text[], $7::text[]) AS e(account_id, version, delta, closes, at, owner_id, currency)),
  applicable AS (
    SELECT e.* FROM e LEFT JOIN account_summaries s USING (account_id)
    WHERE CASE WHEN s.account_id IS NULL
      THEN EXISTS (SELECT 1 FROM e AS o WHERE o.account_id = e.account_id
        AND o.owner_id IS NOT NULL AND o.version <= e.version)
      ELSE e.owner_id IS NULL AND e.version > s.version END),
  folded AS (
    SELECT account_id, sum(delta) AS delta, max(version) AS version, bool_or(closes) AS closes,
      (array_agg(at ORDER BY version DESC))[1] AS at,
      coalesce(min(owner_id), '') AS owner_id, coalesce(min(currency), '') AS currency,
      coalesce(min(at) FILTER (WHERE owner_id IS NOT NULL), min(at)) AS opened_at
    FROM applicable GROUP BY account_id)
  INSERT INTO account_summaries AS s
    (account_id, owner_id, currency, balance, status, version, opened_at, updated_at)
  SELECT account_id, owner_id, currency, delta, CASE WHEN closes THEN 'closed' ELSE 'open' END,
    version, opened_at, at FROM folded
  ON CONFLICT (account_id) DO UPDATE SET balance = s.balance + EXCLUDED.balance,
    status = CASE WHEN EXCLUDED.status = 'closed' THEN 'closed' ELSE s.status END,
    version = EXCLUDED.version, updated_at = EXCLUDED.updated_at`;

/**
 * Keeps {@link AccountSummary}: one statement per batch (UPSERT above), each column an array. An
 * event at or below the row's version (a replay) changes nothing.
 */
@Projection({ name: ACCOUNT_SUMMARY, tables: [AccountSummary] })
@EventsHandler(AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed)
export class AccountSummaryProjection implements ProjectionHandler<AccountEvent> {
  handle(_event: AccountEvent, { manager, envelope }: ProjectionContext): Promise<void> {
    return this.handleBatch([envelope as EventEnvelope<AccountEvent>], { manager });
  }

  async handleBatch(
    envelopes: EventEnvelope<AccountEvent>[],
    { manager }: Pick<ProjectionContext, 'manager'>,
  ) {
    const columns = {
      accountId: [] as string[],
      version: [] as number[],
      delta: [] as number[],
      closes: [] as boolean[],
      at: [] as Date[],
      ownerId: [] as (string | null)[],
      currency: [] as (string | null)[],
    };
    for (const { event, version, recordedAt } of envelopes) {
      const opened = event instanceof AccountOpened ? event : undefined;
      columns.accountId.push(event.accountId);
      columns.version.push(version);
      columns.delta.push(
        opened
          ? opened.initialDeposit
          : event instanceof MoneyDeposited
            ? event.amount
            : event instanceof MoneyWithdrawn
              ? -event.amount
              : 0,
      );
      columns.closes.push(event instanceof AccountClosed);
      columns.at.push(recordedAt);
      columns.ownerId.push(opened?.ownerId ?? null);
      columns.currency.push(opened?.currency ?? null);
    }
    await manager.query(UPSERT, Object.values(columns));
  }
}
