import {
  Body,
  Controller,
  Inject,
  Module,
  Param,
  Post,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import pg from 'pg';

/**
 * The baseline of workload 6: one route, one raw INSERT, no validation, no CQRS, no store. A
 * second route is a diagnostic (a reference, not the target's baseline): see DEPOSIT_STORED.
 */
export const RAW_DEPOSITS = `CREATE TABLE IF NOT EXISTS raw_deposits (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id uuid NOT NULL,
  amount bigint NOT NULL
)`;

const POOL = 'BENCH_POOL';

// What a deposit stores, with no framework and no store: its event in the events table (the
// version from a counter in memory, nothing checked) and the two account read models' rows, in
// one statement (one round trip, one commit), synchronously. The summary row must exist.
const DEPOSIT_STORED = `WITH event AS (
    INSERT INTO events (stream_id, version, event_id, type, schema_version, data, metadata)
    VALUES ($1::text, $2, $3, 'MoneyDeposited', 2, $4, $5)
    RETURNING global_position, recorded_at),
  summary AS (
    UPDATE account_summaries SET balance = balance + $6, version = $2,
      updated_at = (SELECT recorded_at FROM event)
    WHERE account_id = $1::text::uuid RETURNING balance)
  INSERT INTO statement_lines (account_id, version, type, amount, balance_after, occurred_at)
  SELECT $1::text::uuid, $2, 'credit', $6, balance, (SELECT recorded_at FROM event) FROM summary
  RETURNING (SELECT global_position FROM event) AS position`;

@Controller('raw')
class RawDepositsController implements OnApplicationShutdown {
  /** The last version given to each account's deposits (DEPOSIT_STORED). */
  private readonly versions = new Map<string, number>();

  constructor(@Inject(POOL) private readonly pool: pg.Pool) {}

  @Post(':id/deposits')
  async deposit(@Param('id') id: string, @Body() body: { amount: number }) {
    const { rows } = await this.pool.query<{ id: string }>(
      'INSERT INTO raw_deposits (account_id, amount) VALUES ($1, $2) RETURNING id',
      [id, body.amount],
    );
    return { accountId: id, id: Number(rows[0].id) };
  }

  @Post(':id/deposits-stored')
  async depositStored(@Param('id') id: string, @Body() body: { amount: number }) {
    const version = (this.versions.get(id) ?? 0) + 1;
    this.versions.set(id, version);
    const data = { accountId: id, amount: body.amount };
    const metadata = { correlationId: randomUUID(), causationId: randomUUID() };
    const { rows } = await this.pool.query<{ position: string }>(DEPOSIT_STORED, [
      id,
      version,
      randomUUID(),
      data,
      metadata,
      body.amount,
    ]);
    if (rows.length === 0) throw new Error(`no summary row for account ${id}`);
    return { accountId: id, version, position: Number(rows[0].position) };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}

@Module({})
export class MinimalModule {
  /** `poolSize` matches the app's DataSource pool. */
  static forRoot(databaseUrl: string, poolSize: number): DynamicModule {
    return {
      module: MinimalModule,
      controllers: [RawDepositsController],
      providers: [
        {
          provide: POOL,
          useFactory: () => new pg.Pool({ connectionString: databaseUrl, max: poolSize }),
        },
      ],
    };
  }
}
