import { CommandBus, EventsHandler } from '@nestjs/cqrs';
import { v5 as uuidv5 } from 'uuid';
import { DepositMoneyCommand } from '../../accounts/deposit-money.command.js';
import { RefundTransferCommand } from '../../accounts/refund-transfer.command.js';
import { WithdrawMoneyCommand } from '../../accounts/withdraw-money.command.js';
import {
  AggregateRepository,
  DomainError,
  isConnectionError,
  Projection,
  type CommandMetadata,
  type ProjectionContext,
  type ProjectionHandler,
} from '../../event-sourcing/index.js';
import { Transfer } from '../domain/transfer.aggregate.js';
import { TransferDebited, TransferRequested } from '../domain/transfer.events.js';

export const TRANSFER_SAGA = 'transfer-saga';

// Namespace of the saga's step command ids: uuidv5("<transferId>:<step>", STEPS).
const STEPS = '0f3c1d2e-5b6a-4c7d-8e9f-a0b1c2d3e4f5';

/** Tries of a step that fails for an unexpected reason before the transfer fails. */
const STEP_ATTEMPTS = 3;
export const STEP_FAILED = 'TRANSFER_STEP_FAILED';

/**
 * The transfer process manager, fed by the checkpointed global log:
 * TransferRequested -> withdraw from the source -> TransferDebited -> deposit to the target ->
 * TransferCompleted; a refused step ends in TransferFailed (after a refund when money had left).
 *
 * Every step is a command with an id derived from the transfer and the step, and the aggregates
 * apply a step once, so replaying an event after a crash repeats nothing.
 */
@Projection({ name: TRANSFER_SAGA, kind: 'saga' })
@EventsHandler(TransferRequested, TransferDebited)
export class TransferSaga implements ProjectionHandler<TransferRequested | TransferDebited> {
  constructor(
    private readonly commands: CommandBus,
    private readonly repository: AggregateRepository,
  ) {}

  async handle(
    event: TransferRequested | TransferDebited,
    { envelope }: ProjectionContext,
  ): Promise<void> {
    const step = (name: string): { metadata: CommandMetadata } => ({
      metadata: {
        commandId: uuidv5(`${event.transferId}:${name}`, STEPS),
        correlationId: envelope.metadata.correlationId ?? event.transferId,
        causationId: envelope.eventId,
      },
    });
    // The transfer's own state says which step is still to do: a batch replayed after a crash
    // finds the steps it already took done, and does not take them again.
    const transfer = await this.repository.load(Transfer, event.transferId);
    if (event instanceof TransferRequested) await this.debit(transfer, step);
    else await this.credit(transfer, step);
  }

  private async debit(transfer: Transfer, step: (name: string) => { metadata: CommandMetadata }) {
    if (transfer.status !== 'requested') return; // already debited or failed before a crash
    const { id, fromAccountId, amount } = transfer;
    const refused = await this.attempt(() =>
      this.commands.execute(new WithdrawMoneyCommand(fromAccountId, amount, step('debit'), id)),
    );
    // After an unexpected failure the withdrawal may have happened: give back whatever it took.
    if (refused === STEP_FAILED) {
      await this.commands.execute(
        new RefundTransferCommand(fromAccountId, amount, id, step('refund')),
      );
    }
    await this.repository.execute(
      Transfer,
      id,
      (t) => (refused ? t.fail(refused) : t.markDebited()),
      step(refused ? 'fail' : 'debited'),
    );
  }

  private async credit(transfer: Transfer, step: (name: string) => { metadata: CommandMetadata }) {
    if (transfer.status !== 'debited') return; // already completed or failed before a crash
    const { id, toAccountId, fromAccountId, amount } = transfer;
    const refused = await this.attempt(() =>
      this.commands.execute(new DepositMoneyCommand(toAccountId, amount, step('credit'), id)),
    );
    if (refused) {
      await this.commands.execute(
        new RefundTransferCommand(fromAccountId, amount, id, step('refund')),
      );
    }
    await this.repository.execute(
      Transfer,
      id,
      (t) => (refused ? t.fail(refused) : t.complete()),
      step(refused ? 'fail' : 'complete'),
    );
  }

  /**
   * Runs a step. Returns undefined on success, or the code that refused it: a domain code, or
   * STEP_FAILED after a few tries for an unexpected error. An unreachable database is thrown: the
   * processor retries the event when it is back.
   */
  private async attempt(run: () => Promise<unknown>): Promise<string | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        await run();
        return undefined;
      } catch (error) {
        if (
          error instanceof DomainError &&
          (error.kind === 'rejected' || error.kind === 'not_found')
        )
          return error.code;
        if (isConnectionError(error)) throw error;
        if (attempt >= STEP_ATTEMPTS) return STEP_FAILED;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }
}
