import { EventsHandler } from '@nestjs/cqrs';
import { In } from 'typeorm';
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

/**
 * Keeps {@link AccountSummary}. A batch is folded per account in memory and written in one
 * upsert; an event at or below the row's version (a replay) changes nothing.
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
    const ids = [...new Set(envelopes.map((e) => e.event.accountId))];
    const rows = new Map(
      (await manager.findBy(AccountSummary, { accountId: In(ids) })).map((r) => [r.accountId, r]),
    );
    const changed = new Set<string>();
    for (const { event, version, recordedAt } of envelopes) {
      const row = rows.get(event.accountId);
      if (event instanceof AccountOpened) {
        if (row) continue;
        rows.set(
          event.accountId,
          Object.assign(new AccountSummary(), {
            accountId: event.accountId,
            ownerId: event.ownerId,
            currency: event.currency,
            balance: event.initialDeposit,
            status: 'open',
            version,
            openedAt: recordedAt,
            updatedAt: recordedAt,
          }),
        );
      } else {
        if (!row || row.version >= version) continue;
        if (event instanceof MoneyDeposited) row.balance += event.amount;
        if (event instanceof MoneyWithdrawn) row.balance -= event.amount;
        if (event instanceof AccountClosed) row.status = 'closed';
        row.version = version;
        row.updatedAt = recordedAt;
      }
      changed.add(event.accountId);
    }
    if (changed.size === 0) return;
    await manager.upsert(
      AccountSummary,
      [...changed].map((id) => rows.get(id)!),
      ['accountId'],
    );
  }
}
