import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EventSourcingModule } from '../../../src/event-sourcing/index.js';
import { AccountFrozen } from './account-frozen.event.js';
import { FreezableAccount, FreezeAccountHandler } from './freeze-account.command.js';
import {
  LargeWithdrawal,
  LargeWithdrawalsProjection,
  ListLargeWithdrawalsHandler,
} from './large-withdrawals.js';

/**
 * A host's own module: one event, one command, one read model with its query. The aggregate and
 * the projection are registered through forFeature (the projection injects nothing, so it needs no
 * `imports` there; the query handler's repository comes from this module's TypeOrmModule).
 */
@Module({
  imports: [
    EventSourcingModule.forFeature({
      events: [AccountFrozen],
      aggregates: [FreezableAccount],
      projections: [LargeWithdrawalsProjection],
    }),
    TypeOrmModule.forFeature([LargeWithdrawal]),
  ],
  providers: [FreezeAccountHandler, ListLargeWithdrawalsHandler],
})
export class FreezeModule {}
