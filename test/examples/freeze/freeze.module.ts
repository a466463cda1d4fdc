import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EventSourcingModule } from '../../../src/event-sourcing/index.js';
import { AccountFrozen } from './account-frozen.event.js';
import { FreezeAccountHandler } from './freeze-account.command.js';
import {
  LargeWithdrawal,
  LargeWithdrawalsProjection,
  ListLargeWithdrawalsHandler,
} from './large-withdrawals.js';

/** A host's own module: one event, one command, one read model with its query. */
@Module({
  imports: [
    EventSourcingModule.forFeature({ events: [AccountFrozen] }),
    TypeOrmModule.forFeature([LargeWithdrawal]),
  ],
  providers: [FreezeAccountHandler, LargeWithdrawalsProjection, ListLargeWithdrawalsHandler],
})
export class FreezeModule {}
