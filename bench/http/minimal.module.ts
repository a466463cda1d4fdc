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
import pg from 'pg';

/** The baseline of workload 6: one route, one raw INSERT, no validation, no CQRS, no store. */
export const RAW_DEPOSITS = `CREATE TABLE IF NOT EXISTS raw_deposits (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id uuid NOT NULL,
  amount bigint NOT NULL
)`;

const POOL = 'BENCH_POOL';

@Controller('raw')
class RawDepositsController implements OnApplicationShutdown {
  constructor(@Inject(POOL) private readonly pool: pg.Pool) {}

  @Post(':id/deposits')
  async deposit(@Param('id') id: string, @Body() body: { amount: number }) {
    const { rows } = await this.pool.query<{ id: string }>(
      'INSERT INTO raw_deposits (account_id, amount) VALUES ($1, $2) RETURNING id',
      [id, body.amount],
    );
    return { accountId: id, id: Number(rows[0].id) };
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
