import { Inject, Injectable, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { JsonObject } from './event-registry.js';
import { EVENT_SOURCING_OPTIONS, type ResolvedEventSourcingOptions } from './options.js';
import { PreparedStatement } from './prepared-statement.js';
import { eventStoreTables, type EventStoreTables } from './tables.js';

/** A cached aggregate state at one version of its stream. */
export interface Snapshot {
  streamId: string;
  version: number;
  /** Global position of the event at `version`. */
  position: number;
  revision: number;
  state: JsonObject;
}

const LATEST = (
  t: EventStoreTables,
) => `SELECT stream_id AS "streamId", version, position, revision, state FROM ${t.snapshots}
  WHERE stream_id = $1 AND revision = $2 AND version <= $3
  ORDER BY version DESC LIMIT 1`;

const SAVE = (
  t: EventStoreTables,
) => `INSERT INTO ${t.snapshots} (stream_id, version, position, revision, state)
  VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stream_id, version, revision) DO NOTHING`;

/** The `snapshots` table. Snapshots are caches: losing one costs a longer replay, nothing else. */
@Injectable()
export class SnapshotStore {
  private readonly sql: { latest: PreparedStatement; save: string };

  constructor(
    private readonly dataSource: DataSource,
    @Optional()
    @Inject(EVENT_SOURCING_OPTIONS)
    options?: Pick<ResolvedEventSourcingOptions, 'schema'>,
  ) {
    const t = eventStoreTables(options?.schema);
    this.sql = { latest: new PreparedStatement(LATEST(t)), save: SAVE(t) };
  }

  /** The newest snapshot of `revision` at or below `maxVersion`. */
  async latest(
    streamId: string,
    revision: number,
    maxVersion = 2147483647,
  ): Promise<Snapshot | undefined> {
    const [row] = await this.sql.latest.rows<Snapshot>(this.dataSource, [
      streamId,
      revision,
      maxVersion,
    ]);
    return (
      row && {
        ...row,
        version: Number(row.version),
        position: Number(row.position),
        revision: Number(row.revision),
      }
    );
  }

  async save(snapshot: Snapshot): Promise<void> {
    const { streamId, version, position, revision, state } = snapshot;
    await this.dataSource.query(this.sql.save, [streamId, version, position, revision, state]);
  }
}
