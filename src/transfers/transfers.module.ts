import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AccountsModule } from '../accounts/accounts.module.js';
import { EventSourcingModule } from '../event-sourcing/index.js';
import { Transfer } from './domain/transfer.aggregate.js';
import { transferEvents } from './domain/transfer.events.js';
import { TransfersController } from './http/transfers.controller.js';
import { RequestTransferHandler } from './request-transfer.command.js';
import { TransferSaga } from './sagas/transfer.saga.js';
import { GetTransferHandler } from './transfer-summary/get-transfer.query.js';
import { TransferSummary } from './transfer-summary/transfer-summary.entity.js';
import { TransferSummaryProjection } from './transfer-summary/transfer-summary.projection.js';

/**
 * The transfers bounded context: a durable saga over the accounts context's commands. Needs the
 * AccountsModule; import TransfersHttpModule for the /transfers routes too.
 */
@Module({
  imports: [
    AccountsModule,
    TypeOrmModule.forFeature([TransferSummary]),
    EventSourcingModule.forFeature({
      events: transferEvents,
      aggregates: [Transfer],
      projections: [TransferSaga, TransferSummaryProjection],
    }),
  ],
  providers: [RequestTransferHandler, GetTransferHandler],
})
export class TransfersModule {}

/** The transfers context with its HTTP routes (/transfers...). */
@Module({ imports: [TransfersModule], controllers: [TransfersController] })
export class TransfersHttpModule {}
