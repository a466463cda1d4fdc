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

// A batch in one statement: folded per account in memory, one row per account (its first and last
// version in the batch). An account's row is written when the batch goes on from it (the row's
// version is below the batch's first), or created when the batch opens the account. The accounts
// whose row is inside the batch's versions (a replay of part of it) are returned, with that
// version; a replay of all of it changes nothing. Placeholders in the inserted row of an existing
// account (owner, currency, opened_at) are never written: ON CONFLICT sets only the balance,
// status, version and updated_at.
const UPSERT = `WITH f AS (
    SELECT f.*, s.version AS row_version FROM unnest($1::uuid[], $2::int[], $3::int[],
      $4::bigint[], $5::bool[], $6::timestamptz[], $7::text[], $8::text[], $9::timestamptz[])
      AS f(account_id, first_version, version, delta, closes, at, owner_id, currency, opened_at)
    LEFT JOIN account_summaries s USING (account_id)),
  written AS (
    INSERT INTO account_summaries AS s
      (account_id, owner_id, currency, balance, status, version, opened_at, updated_at)
    SELECT account_id, coalesce(owner_id, ''), coalesce(currency, ''), delta,
      CASE WHEN closes THEN 'closed' ELSE 'open' END, version, coalesce(opened_at, at), at
    FROM f WHERE CASE WHEN row_version IS NULL THEN owner_id IS NOT NULL
      ELSE row_version < first_version END
    ON CONFLICT (account_id) DO UPDATE SET balance = s.balance + EXCLUDED.balance,
      status = CASE WHEN EXCLUDED.status = 'closed' THEN 'closed' ELSE s.status END,
      version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
    RETURNING 1)
  SELECT account_id AS "accountId", row_version AS "rowVersion" FROM f
  WHERE row_version >= first_version AND row_version < version`;

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
 * Keeps {@link AccountSummary}: one statement per batch (UPSERT above); an event at or below the
 * row's version (a replay) changes nothing.
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
    const partly: { accountId: string; rowVersion: number }[] = await manager.query(
      UPSERT,
      columnsOf(fold(envelopes)),
    );
    if (partly.length === 0) return;
    // The events above each such row, as a batch of their own (its first version is above the row).
    const rowVersions = new Map(partly.map((p) => [p.accountId, p.rowVersion]));
    const rest = envelopes.filter(
      (e) => e.version > (rowVersions.get(e.event.accountId) ?? Number.MAX_SAFE_INTEGER),
    );
    if (rest.length > 0) await manager.query(UPSERT, columnsOf(fold(rest)));
  }
}

/** Each account's events of the batch (in version order) as one change. */
function fold(envelopes: EventEnvelope<AccountEvent>[]): Folded[] {
  const byAccount = new Map<string, Folded>();
  for (const { event, version, recordedAt } of envelopes) {
    let change = byAccount.get(event.accountId);
    if (!change) {
      change = {
        accountId: event.accountId,
        firstVersion: version,
        version,
        delta: 0,
        closes: false,
        at: recordedAt,
      };
      byAccount.set(event.accountId, change);
    }
    change.version = version;
    change.at = recordedAt;
    if (event instanceof AccountOpened) {
      change.opened = { ownerId: event.ownerId, currency: event.currency, at: recordedAt };
      change.delta += event.initialDeposit;
    }
    if (event instanceof MoneyDeposited) change.delta += event.amount;
    if (event instanceof MoneyWithdrawn) change.delta -= event.amount;
    if (event instanceof AccountClosed) change.closes = true;
  }
  return [...byAccount.values()];
}

/** UPSERT's parameters: one array per column. */
function columnsOf(changes: Folded[]): unknown[] {
  return [
    changes.map((c) => c.accountId),
    changes.map((c) => c.firstVersion),
    changes.map((c) => c.version),
    changes.map((c) => c.delta),
    changes.map((c) => c.closes),
    changes.map((c) => c.at),
    changes.map((c) => c.opened?.ownerId ?? null),
    changes.map((c) => c.opened?.currency ?? null),
    changes.map((c) => c.opened?.at ?? null),
  ];
}
