import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EventSourcingModule } from '../event-sourcing/index.js';
import { AccountSummary } from './account-summary/account-summary.entity.js';
import { AccountSummaryProjection } from './account-summary/account-summary.projection.js';
import { GetAccountHandler } from './account-summary/get-account.query.js';
import { ListAccountsHandler } from './account-summary/list-accounts.query.js';
import { CloseAccountHandler } from './close-account.command.js';
import { DepositMoneyHandler } from './deposit-money.command.js';
import { Account } from './domain/account.aggregate.js';
import { accountEvents } from './domain/account.events.js';
import { accountUpcasters } from './domain/account.upcasters.js';
import { AccountsController } from './http/accounts.controller.js';
import { GetAccountEventsHandler } from './history/get-account-events.query.js';
import { GetAccountStateHandler } from './history/get-account-state.query.js';
import { OpenAccountHandler } from './open-account.command.js';
import { RefundTransferHandler } from './refund-transfer.command.js';
import { GetTransactionsHandler } from './statement/get-transactions.query.js';
import { StatementLine } from './statement/statement-line.entity.js';
import { StatementProjection } from './statement/statement.projection.js';
import { WithdrawMoneyHandler } from './withdraw-money.command.js';

/**
 * The accounts bounded context: commands, read models and queries, without HTTP. Import
 * AccountsHttpModule for its routes too.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([AccountSummary, StatementLine]),
    EventSourcingModule.forFeature({
      events: accountEvents,
      upcasters: accountUpcasters,
      aggregates: [Account],
      projections: [AccountSummaryProjection, StatementProjection],
    }),
  ],
  providers: [
    OpenAccountHandler,
    DepositMoneyHandler,
    WithdrawMoneyHandler,
    CloseAccountHandler,
    RefundTransferHandler,
    GetAccountHandler,
    ListAccountsHandler,
    GetTransactionsHandler,
    GetAccountStateHandler,
    GetAccountEventsHandler,
  ],
})
export class AccountsModule {}

/** The accounts context with its HTTP routes (/accounts...). */
@Module({ imports: [AccountsModule], controllers: [AccountsController] })
export class AccountsHttpModule {}
