import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import {
  EventRegistry,
  EventStore,
  type EventMetadata,
  type JsonObject,
} from '../../event-sourcing/index.js';
import { AccountNotFoundError } from '../domain/account.errors.js';

export interface AuditTrailItem {
  version: number;
  position: number;
  type: string;
  schemaVersion: number;
  data: JsonObject;
  metadata: EventMetadata;
  recordedAt: Date;
}

/** The audit trail: every event of the account's stream, upcast to the current schema. */
export class GetAccountEventsQuery extends Query<{ items: AuditTrailItem[] }> {
  constructor(readonly accountId: string) {
    super();
  }
}

@QueryHandler(GetAccountEventsQuery)
export class GetAccountEventsHandler implements IQueryHandler<GetAccountEventsQuery> {
  constructor(
    private readonly store: EventStore,
    private readonly registry: EventRegistry,
  ) {}

  async execute({ accountId }: GetAccountEventsQuery): Promise<{ items: AuditTrailItem[] }> {
    const stored = await this.store.readStream(accountId);
    if (stored.length === 0) throw new AccountNotFoundError(accountId);
    const items = stored.map((e) => {
      const { version, position, type, schemaVersion, data, metadata, recordedAt } =
        this.registry.read(e);
      return { version, position, type, schemaVersion, data, metadata, recordedAt };
    });
    return { items };
  }
}
