import type { DataSource, EntityManager } from 'typeorm';
import { v4 as uuidv4 } from 'uuid';
import { eventTypeOf, type EventEnvelope, type JsonObject } from '../event-registry.js';
import { DeferredWrites, type ProjectionHandler } from '../projection.js';

/** Rolls the spec's transaction back: the read tables are left as they were. */
class Rollback extends Error {}

/**
 * given(events of a stream) / then(read entities) for projection handlers, against a real
 * database, inside a transaction that is rolled back afterwards:
 *
 *   await ProjectionSpec.for(dataSource, new AccountSummaryProjection())
 *     .given(accountId, new AccountOpened(accountId, 'owner', 'USD', 100), new MoneyDeposited(accountId, 5))
 *     .then(async (manager) => expect(await manager.findOneBy(AccountSummary, { accountId })).toMatchObject({ balance: 105 }));
 *
 * Events get versions 0, 1, 2... in their stream and increasing positions; `recordedAt` is fixed.
 */
export class ProjectionSpec {
  private readonly streams: { streamId: string; events: object[] }[] = [];

  private constructor(
    private readonly dataSource: DataSource,
    private readonly handlers: ProjectionHandler[],
  ) {}

  static for(dataSource: DataSource, ...handlers: ProjectionHandler[]): ProjectionSpec {
    return new ProjectionSpec(dataSource, handlers);
  }

  /** Events of one stream, in order; call again for another stream (applied after this one). */
  given(streamId: string, ...events: object[]): this {
    this.streams.push({ streamId, events });
    return this;
  }

  /** Applies the events through every handler, then runs the assertions on the same transaction. */
  async then(
    assert: (manager: EntityManager) => Promise<void>,
    recordedAt = new Date('2026-01-01T00:00:00.000Z'),
  ): Promise<void> {
    let position = 0;
    try {
      await this.dataSource.transaction(async (manager) => {
        for (const { streamId, events } of this.streams) {
          for (const [version, event] of events.entries()) {
            const { type, schemaVersion } = eventTypeOf(event);
            const envelope: EventEnvelope = {
              eventId: uuidv4(),
              streamId,
              version,
              position: ++position,
              type,
              schemaVersion,
              data: JSON.parse(JSON.stringify(event)) as JsonObject,
              metadata: {},
              recordedAt,
              event,
            };
            const writes = new DeferredWrites();
            for (const handler of this.handlers) {
              await handler.handle(event, { manager, envelope, defer: writes.defer });
            }
            await writes.flush(manager);
          }
        }
        await assert(manager);
        throw new Rollback();
      });
    } catch (error) {
      if (!(error instanceof Rollback)) throw error;
    }
  }
}
