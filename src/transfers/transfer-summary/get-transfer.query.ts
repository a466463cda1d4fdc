import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { ReadModelGate } from '../../event-sourcing/index.js';
import { TransferNotFoundError } from '../domain/transfer.errors.js';
import { TransferSummary } from './transfer-summary.entity.js';
import { TRANSFER_SUMMARY } from './transfer-summary.projection.js';

export interface TransferView {
  transferId: string;
  fromAccountId: string;
  toAccountId: string;
  amount: number;
  status: 'pending' | 'completed' | 'failed';
  reason?: string;
}

export class GetTransferQuery extends Query<TransferView> {
  constructor(
    readonly transferId: string,
    readonly minPosition?: number,
  ) {
    super();
  }
}

@QueryHandler(GetTransferQuery)
export class GetTransferHandler implements IQueryHandler<GetTransferQuery> {
  constructor(
    @InjectRepository(TransferSummary) private readonly transfers: Repository<TransferSummary>,
    private readonly gate: ReadModelGate,
  ) {}

  async execute({ transferId, minPosition }: GetTransferQuery): Promise<TransferView> {
    await this.gate.waitFor(TRANSFER_SUMMARY, minPosition);
    const row = await this.transfers.findOneBy({ transferId });
    if (!row) throw new TransferNotFoundError(transferId);
    const { fromAccountId, toAccountId, amount, status, reason } = row;
    return {
      transferId,
      fromAccountId,
      toAccountId,
      amount,
      status,
      ...(reason ? { reason } : {}),
    };
  }
}
