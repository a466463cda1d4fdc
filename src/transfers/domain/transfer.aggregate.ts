import { EventSourcedAggregate } from '../../event-sourcing/index.js';
import { SameAccountError, TransferAlreadyExistsError } from './transfer.errors.js';
import {
  TransferCompleted,
  TransferDebited,
  TransferFailed,
  TransferRequested,
} from './transfer.events.js';

export type TransferStatus = 'requested' | 'debited' | 'completed' | 'failed';

/**
 * A money transfer as a process: requested -> debited -> completed, or -> failed. Its stream is
 * its state; each step method is idempotent, so the saga can replay a step after a crash.
 */
export class Transfer extends EventSourcedAggregate {
  status?: TransferStatus;
  fromAccountId = '';
  toAccountId = '';
  amount = 0;

  request(fromAccountId: string, toAccountId: string, amount: number, currency: string): void {
    if (this.status) throw new TransferAlreadyExistsError(this.id);
    if (fromAccountId === toAccountId) throw new SameAccountError();
    this.apply(new TransferRequested(this.id, fromAccountId, toAccountId, amount, currency));
  }

  markDebited(): void {
    if (this.status === 'requested') this.apply(new TransferDebited(this.id));
  }

  complete(): void {
    if (this.status === 'debited') this.apply(new TransferCompleted(this.id));
  }

  fail(reason: string): void {
    if (this.status === 'requested' || this.status === 'debited')
      this.apply(new TransferFailed(this.id, reason));
  }

  protected onTransferRequested(event: TransferRequested): void {
    Object.assign(this, {
      status: 'requested',
      fromAccountId: event.fromAccountId,
      toAccountId: event.toAccountId,
      amount: event.amount,
    });
  }

  protected onTransferDebited(): void {
    this.status = 'debited';
  }

  protected onTransferCompleted(): void {
    this.status = 'completed';
  }

  protected onTransferFailed(): void {
    this.status = 'failed';
  }
}
