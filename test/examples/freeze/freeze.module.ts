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
 * A host's own module: one event, one command, one read model with its query. The projection is
 * registered through forFeature (its `imports` resolve its dependencies there).
 */
@Module({
  imports: [
    EventSourcingModule.forFeature({
      events: [AccountFrozen],
      aggregates: [FreezableAccount],
      projections: [LargeWithdrawalsProjection],
      imports: [TypeOrmModule.forFeature([LargeWithdrawal])],
    }),
    TypeOrmModule.forFeature([LargeWithdrawal]),
  ],
  providers: [FreezeAccountHandler, ListLargeWithdrawalsHandler],
})
export class FreezeModule {}
