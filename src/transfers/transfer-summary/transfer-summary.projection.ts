import { EventsHandler } from '@nestjs/cqrs';
import {
  Projection,
  type ProjectionContext,
  type ProjectionHandler,
} from '../../event-sourcing/index.js';
import { TransferCompleted, TransferFailed, TransferRequested } from '../domain/transfer.events.js';
import { TransferSummary } from './transfer-summary.entity.js';

export const TRANSFER_SUMMARY = 'transfer-summary';

type TransferEvent = TransferRequested | TransferCompleted | TransferFailed;

/** Keeps {@link TransferSummary}: pending until the saga's final event. */
@Projection({ name: TRANSFER_SUMMARY, tables: [TransferSummary], rebuildByStream: true })
@EventsHandler(TransferRequested, TransferCompleted, TransferFailed)
export class TransferSummaryProjection implements ProjectionHandler<TransferEvent> {
  async handle(event: TransferEvent, { manager, envelope }: ProjectionContext): Promise<void> {
    if (event instanceof TransferRequested) {
      await manager
        .createQueryBuilder()
        .insert()
        .into(TransferSummary)
        .values({
          transferId: event.transferId,
          fromAccountId: event.fromAccountId,
          toAccountId: event.toAccountId,
          amount: event.amount,
          status: 'pending',
          reason: null,
          requestedAt: envelope.recordedAt,
          updatedAt: envelope.recordedAt,
        })
        .orIgnore()
        .execute();
      return;
    }
    await manager.update(
      TransferSummary,
      { transferId: event.transferId },
      event instanceof TransferFailed
        ? { status: 'failed', reason: event.reason, updatedAt: envelope.recordedAt }
        : { status: 'completed', updatedAt: envelope.recordedAt },
    );
  }
}
