import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource, type EntityManager } from 'typeorm';
import { v4 as uuidv4 } from 'uuid';
import { AccountSummary } from '../../src/accounts/account-summary/account-summary.entity.js';
import { AccountSummaryProjection } from '../../src/accounts/account-summary/account-summary.projection.js';
import {
  AccountClosed,
  AccountOpened,
  MoneyDeposited,
  MoneyWithdrawn,
} from '../../src/accounts/domain/account.events.js';
import { StatementLine } from '../../src/accounts/statement/statement-line.entity.js';
import { StatementProjection } from '../../src/accounts/statement/statement.projection.js';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import {
  DeferredWrites,
  ProjectionSpec,
  type EventEnvelope,
  type ProjectionHandler,
} from '../../src/event-sourcing/index.js';
import { createTestDatabase } from '../support/database.js';

const id = '0d1e2f30-4a5b-4c6d-8e7f-901234567890';
const transferId = '0d1e2f30-4a5b-4c6d-8e7f-0000000000aa';

/** A batch through `handleBatch`, then the writes it deferred, as a rebuild's page runs them. */
async function applyBatch<E extends object>(
  projection: Required<Pick<ProjectionHandler<E>, 'handleBatch'>>,
  envelopes: EventEnvelope<E>[],
  manager: EntityManager,
): Promise<void> {
  const writes = new DeferredWrites();
  await projection.handleBatch(envelopes, { manager, defer: writes.defer });
  await writes.flush(manager);
}

/** The statement lines of account `id`, in version order. */
const statementOf = (manager: EntityManager) =>
  manager.find(StatementLine, { where: { accountId: id }, order: { version: 'ASC' } });

describe('the account read models, as projection specs', () => {
  let dataSource: DataSource;
  beforeAll(async () => {
    dataSource = await new DataSource(dataSourceOptions(await createTestDatabase())).initialize();
  });
  afterAll(() => dataSource.destroy());

  it('keeps the summary: balance, version, status', async () => {
    await ProjectionSpec.for(dataSource, new AccountSummaryProjection())
      .given(
        id,
        new AccountOpened(id, 'o', 'EUR', 100),
        new MoneyDeposited(id, 50),
        new MoneyWithdrawn(id, 150),
        new AccountClosed(id),
      )
      .then(async (manager) => {
        expect(await manager.findOneBy(AccountSummary, { accountId: id })).toMatchObject({
          ownerId: 'o',
          currency: 'EUR',
          balance: 0,
          version: 3,
          status: 'closed',
        });
      });
  });

  it('changes no summary for events it has applied already (a replay), in part or in full', async () => {
    const projection = new AccountSummaryProjection();
    const at = (version: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, version));
    const envelope = (version: number, event: object) =>
      ({ version, event, recordedAt: at(version) }) as unknown as EventEnvelope<AccountOpened>;
    const other = uuidv4();
    const rolledBack = new Error('roll back');
    await dataSource
      .transaction(async (manager) => {
        const summary = () => manager.findOneBy(AccountSummary, { accountId: id });
        const apply = (...envelopes: EventEnvelope<AccountOpened>[]) =>
          applyBatch(projection, envelopes, manager);
        await apply(
          envelope(0, new AccountOpened(id, 'o', 'USD', 100)),
          envelope(1, new MoneyDeposited(id, 50)),
        );
        // versions 1 (again) and 2; then the opening again; then an account with no row and no opening
        await apply(
          envelope(1, new MoneyDeposited(id, 50)),
          envelope(2, new MoneyDeposited(id, 7)),
        );
        await apply(envelope(0, new AccountOpened(id, 'x', 'EUR', 1)));
        await apply(envelope(3, new MoneyDeposited(other, 5)));
        expect(await summary()).toMatchObject({
          ownerId: 'o',
          currency: 'USD',
          balance: 157,
          version: 2,
          status: 'open',
          openedAt: at(0),
          updatedAt: at(2),
        });
        await apply(envelope(3, new MoneyWithdrawn(id, 57)), envelope(4, new AccountClosed(id)));
        await apply(envelope(4, new AccountClosed(id)));
        expect(await summary()).toMatchObject({
          balance: 100,
          version: 4,
          status: 'closed',
          updatedAt: at(4),
        });
        expect(await manager.countBy(AccountSummary, { accountId: other })).toBe(0);
        throw rolledBack;
      })
      .catch((error: unknown) => {
        if (error !== rolledBack) throw error;
      });
  });

  it('keeps statement lines with the running balance, the transfer id and the time', async () => {
    const recordedAt = new Date('2026-11-27T14:59:58.987Z');
    await ProjectionSpec.for(dataSource, new StatementProjection())
      .given(
        id,
        new AccountOpened(id, 'o', 'USD', 0),
        new MoneyDeposited(id, 70, transferId),
        new MoneyWithdrawn(id, 20),
      )
      .then(async (manager) => {
        const lines = await statementOf(manager);
        expect(
          lines.map(({ version, type, amount, balanceAfter, transferId: t }) => [
            version,
            type,
            amount,
            balanceAfter,
            t,
          ]),
        ).toEqual([
          [1, 'credit', 70, 70, transferId],
          [2, 'debit', 20, 50, null],
        ]);
        // The event's time to the millisecond (the projection sends it as milliseconds).
        for (const line of lines) expect(line.occurredAt).toEqual(recordedAt);
      }, recordedAt);
  });

  it('adds no statement line for events it has applied already (a replay)', async () => {
    const events = [new AccountOpened(id, 'o', 'USD', 10), new MoneyDeposited(id, 5)];
    await ProjectionSpec.for(dataSource, new StatementProjection())
      .given(id, ...events)
      .given(id, ...events) // versions 0 and 1 again
      .then(async (manager) => {
        const lines = await statementOf(manager);
        expect(lines.map((l) => [l.version, l.balanceAfter])).toEqual([
          [0, 10],
          [1, 15],
        ]);
      });
  });

  it('adds the line of an event that reaches it after a later one of its account', async () => {
    const projection = new StatementProjection();
    const envelope = (version: number, event: object) =>
      ({ version, event, recordedAt: new Date(0) }) as unknown as EventEnvelope<AccountOpened>;
    const rolledBack = new Error('roll back');
    await dataSource
      .transaction(async (manager) => {
        await applyBatch(
          projection,
          [
            envelope(0, new AccountOpened(id, 'o', 'USD', 10)),
            envelope(2, new MoneyDeposited(id, 5)),
          ],
          manager,
        );
        await applyBatch(projection, [envelope(1, new MoneyDeposited(id, 3))], manager);
        await applyBatch(projection, [envelope(1, new MoneyDeposited(id, 3))], manager); // replay
        const lines = await statementOf(manager);
        // Its balance goes on from the line before it (10), not from the later one (15): its batch
        // holds no later event of the account (with one, it goes on from the last line below that).
        expect(lines.map((l) => [l.version, l.amount, l.balanceAfter])).toEqual([
          [0, 10, 10],
          [1, 3, 13],
          [2, 5, 15],
        ]);
        throw rolledBack;
      })
      .catch((error: unknown) => {
        if (error !== rolledBack) throw error;
      });
  });

  it('leaves the tables as they were', async () => {
    expect(await dataSource.getRepository(AccountSummary).countBy({ accountId: id })).toBe(0);
  });
});
