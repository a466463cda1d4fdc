import { EventsHandler } from '@nestjs/cqrs';
import {
  Projection,
  type ProjectionContext,
  type ProjectionHandler,
} from '../../event-sourcing/index.js';
import { AccountOpened, MoneyDeposited, MoneyWithdrawn } from '../domain/account.events.js';
import { StatementLine } from './statement-line.entity.js';

export const ACCOUNT_STATEMENT = 'account-statement';

type MoneyEvent = AccountOpened | MoneyDeposited | MoneyWithdrawn;

// The running balance is the previous line's plus this amount; replaying a line is a no-op.
const INSERT_LINE = `
INSERT INTO statement_lines (account_id, version, type, amount, balance_after, occurred_at, transfer_id)
SELECT $1, $2, $3, $4,
       coalesce((SELECT balance_after FROM statement_lines WHERE account_id = $1 ORDER BY version DESC LIMIT 1), 0) + $5,
       $6, $7
ON CONFLICT (account_id, version) DO NOTHING`;

/** Keeps {@link StatementLine}: the opening deposit (if above 0), then every deposit and withdrawal. */
@Projection({ name: ACCOUNT_STATEMENT, tables: [StatementLine] })
@EventsHandler(AccountOpened, MoneyDeposited, MoneyWithdrawn)
export class StatementProjection implements ProjectionHandler<MoneyEvent> {
  async handle(event: MoneyEvent, { manager, envelope }: ProjectionContext): Promise<void> {
    const amount = event instanceof AccountOpened ? event.initialDeposit : event.amount;
    if (amount === 0) return;
    const debit = event instanceof MoneyWithdrawn;
    const transferId = event instanceof AccountOpened ? null : (event.transferId ?? null);
    await manager.query(INSERT_LINE, [
      event.accountId,
      envelope.version,
      debit ? 'debit' : 'credit',
      amount,
      debit ? -amount : amount,
      envelope.recordedAt,
      transferId,
    ]);
  }
}
