import { EventsHandler } from '@nestjs/cqrs';
import {
  Projection,
  type EventEnvelope,
  type ProjectionContext,
  type ProjectionHandler,
} from '../../event-sourcing/index.js';
import { AccountOpened, MoneyDeposited, MoneyWithdrawn } from '../domain/account.events.js';
import { StatementLine } from './statement-line.entity.js';

export const ACCOUNT_STATEMENT = 'account-statement';

type MoneyEvent = AccountOpened | MoneyDeposited | MoneyWithdrawn;

// One statement per batch, each column an array.
const INSERT_LINES = `INSERT INTO statement_lines
  (account_id, version, type, amount, balance_after, occurred_at, transfer_id)
  SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::bigint[], $5::bigint[], $6::timestamptz[], $7::uuid[])`;

// The last line of each account: one probe of the primary key per account, however long its statement.
const LAST_LINES = `SELECT a.id AS "accountId", l.version, l.balance_after AS "balanceAfter"
  FROM unnest($1::uuid[]) AS a(id)
  CROSS JOIN LATERAL (SELECT version, balance_after FROM statement_lines
    WHERE account_id = a.id ORDER BY version DESC LIMIT 1) AS l`;

// Which of these (account, version) pairs have a line already.
const EXISTING = `SELECT account_id AS "accountId", version FROM statement_lines
  WHERE (account_id, version) IN (SELECT * FROM unnest($1::uuid[], $2::int[]))`;

/**
 * Keeps {@link StatementLine}: the opening deposit (if above 0), then every deposit and
 * withdrawal with the running balance. A batch becomes one insert; an event that has its line
 * already (a replay) adds nothing.
 */
@Projection({ name: ACCOUNT_STATEMENT, tables: [StatementLine] })
@EventsHandler(AccountOpened, MoneyDeposited, MoneyWithdrawn)
export class StatementProjection implements ProjectionHandler<MoneyEvent> {
  handle(_event: MoneyEvent, { manager, envelope }: ProjectionContext): Promise<void> {
    return this.handleBatch([envelope as EventEnvelope<MoneyEvent>], { manager });
  }

  async handleBatch(
    envelopes: EventEnvelope<MoneyEvent>[],
    { manager }: Pick<ProjectionContext, 'manager'>,
  ) {
    const ids = [...new Set(envelopes.map((e) => e.event.accountId))];
    const last: { accountId: string; version: number; balanceAfter: string }[] =
      await manager.query(LAST_LINES, [ids]);
    const balances = new Map(last.map((r) => [r.accountId, Number(r.balanceAfter)]));
    const applied = await this.appliedAlready(
      envelopes,
      new Map(last.map((r) => [r.accountId, r.version])),
      manager,
    );
    const lines: Record<keyof StatementLine, unknown[]> = {
      accountId: [],
      version: [],
      type: [],
      amount: [],
      balanceAfter: [],
      occurredAt: [],
      transferId: [],
    };
    for (const { event, version, recordedAt } of envelopes) {
      if (applied.has(`${event.accountId}/${version}`)) continue; // a replay
      const amount = event instanceof AccountOpened ? event.initialDeposit : event.amount;
      if (amount === 0) continue;
      const debit = event instanceof MoneyWithdrawn;
      const balanceAfter = (balances.get(event.accountId) ?? 0) + (debit ? -amount : amount);
      balances.set(event.accountId, balanceAfter);
      lines.accountId.push(event.accountId);
      lines.version.push(version);
      lines.type.push(debit ? 'debit' : 'credit');
      lines.amount.push(amount);
      lines.balanceAfter.push(balanceAfter);
      lines.occurredAt.push(recordedAt);
      lines.transferId.push(event instanceof AccountOpened ? null : (event.transferId ?? null));
    }
    if (lines.accountId.length === 0) return;
    await manager.query(INSERT_LINES, [
      lines.accountId,
      lines.version,
      lines.type,
      lines.amount,
      lines.balanceAfter,
      lines.occurredAt,
      lines.transferId,
    ]);
  }

  /**
   * The events of the batch that have their line already (`account/version`). Only events at or
   * below an account's last line can (a replay; none when the batch is new), so only those are
   * looked up.
   */
  private async appliedAlready(
    envelopes: EventEnvelope<MoneyEvent>[],
    lastVersions: Map<string, number>,
    manager: ProjectionContext['manager'],
  ): Promise<Set<string>> {
    const older = envelopes.filter((e) => e.version <= (lastVersions.get(e.event.accountId) ?? -1));
    if (older.length === 0) return new Set();
    const rows: { accountId: string; version: number }[] = await manager.query(EXISTING, [
      older.map((e) => e.event.accountId),
      older.map((e) => e.version),
    ]);
    return new Set(rows.map((r) => `${r.accountId}/${r.version}`));
  }
}
