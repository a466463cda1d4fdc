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

const LAST_BALANCES = `SELECT DISTINCT ON (account_id) account_id AS "accountId", balance_after AS "balanceAfter"
  FROM statement_lines WHERE account_id = ANY($1::uuid[]) ORDER BY account_id, version DESC`;

/**
 * Keeps {@link StatementLine}: the opening deposit (if above 0), then every deposit and
 * withdrawal with the running balance. A batch becomes one multi-row insert; a line already
 * there (a replay) is left as it is.
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
    const last: { accountId: string; balanceAfter: string }[] = await manager.query(LAST_BALANCES, [
      ids,
    ]);
    const balances = new Map(last.map((r) => [r.accountId, Number(r.balanceAfter)]));
    const lines: StatementLine[] = [];
    for (const { event, version, recordedAt } of envelopes) {
      const amount = event instanceof AccountOpened ? event.initialDeposit : event.amount;
      if (amount === 0) continue;
      const debit = event instanceof MoneyWithdrawn;
      const balanceAfter = (balances.get(event.accountId) ?? 0) + (debit ? -amount : amount);
      balances.set(event.accountId, balanceAfter);
      lines.push(
        Object.assign(new StatementLine(), {
          accountId: event.accountId,
          version,
          type: debit ? 'debit' : 'credit',
          amount,
          balanceAfter,
          occurredAt: recordedAt,
          transferId: event instanceof AccountOpened ? null : (event.transferId ?? null),
        }),
      );
    }
    if (lines.length === 0) return;
    await manager
      .createQueryBuilder()
      .insert()
      .into(StatementLine)
      .values(lines)
      .orIgnore()
      .execute();
  }
}
