import { EventsHandler } from '@nestjs/cqrs';
import {
  Projection,
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

/** Keeps {@link AccountSummary}; a replayed event (version already applied) changes nothing. */
@Projection({ name: ACCOUNT_SUMMARY, tables: [AccountSummary] })
@EventsHandler(AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed)
export class AccountSummaryProjection implements ProjectionHandler<AccountEvent> {
  async handle(event: AccountEvent, { manager, envelope }: ProjectionContext): Promise<void> {
    if (event instanceof AccountOpened) {
      await manager
        .createQueryBuilder()
        .insert()
        .into(AccountSummary)
        .values({
          accountId: event.accountId,
          ownerId: event.ownerId,
          currency: event.currency,
          balance: event.initialDeposit,
          status: 'open',
          version: envelope.version,
          openedAt: envelope.recordedAt,
          updatedAt: envelope.recordedAt,
        })
        .orIgnore()
        .execute();
      return;
    }
    const delta =
      event instanceof MoneyDeposited
        ? event.amount
        : event instanceof MoneyWithdrawn
          ? -event.amount
          : 0;
    await manager
      .createQueryBuilder()
      .update(AccountSummary)
      .set({
        balance: () => 'balance + :delta',
        version: envelope.version,
        updatedAt: envelope.recordedAt,
        ...(event instanceof AccountClosed ? { status: 'closed' as const } : {}),
      })
      .where('account_id = :accountId AND version < :version', {
        accountId: event.accountId,
        version: envelope.version,
      })
      .setParameter('delta', delta)
      .execute();
  }
}
