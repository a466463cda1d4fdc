import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Body, Controller, Get, Module, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CqrsModule, QueryBus } from '@nestjs/cqrs';
import { InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import {
  Column,
  DataSource,
  Entity,
  PrimaryGeneratedColumn,
  type MigrationInterface,
  type QueryRunner,
  type Repository,
} from 'typeorm';
import { migrations, tallyMigrations } from '../../migrations/index.js';
import { AccountsHttpModule } from '../../src/accounts/accounts.module.js';
import { EventSourcingModule, GlobalLogProcessor } from '../../src/event-sourcing/index.js';
import { createTestDatabase } from '../support/database.js';
import { pollUntil, waitUntilCaughtUp } from '../support/projections.js';
import { FreezeModule } from './freeze/freeze.module.js';
import {
  LARGE_WITHDRAWALS,
  LargeWithdrawals1800000000000,
  ListLargeWithdrawalsQuery,
} from './freeze/large-withdrawals.js';

const SCHEMA = 'tally';
const EVENT_STORE_TABLES = ['events', 'parked_events', 'projection_checkpoints', 'snapshots'];

// --- the host's own table named `events`, in its own (public) schema --------------------------
@Entity('events')
class HostEvent {
  @PrimaryGeneratedColumn() id: number;
  @Column('text') name: string;
}

class HostEvents1800000000002 implements MigrationInterface {
  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE TABLE events (id serial PRIMARY KEY, name text NOT NULL)`);
  }
  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE events`);
  }
}

@Controller('host-events')
class HostEventsController {
  constructor(@InjectRepository(HostEvent) private readonly events: Repository<HostEvent>) {}

  @Post()
  create(@Body() body: { name: string }) {
    return this.events.save({ name: body.name });
  }

  @Get()
  list() {
    return this.events.find();
  }
}

@Module({ imports: [TypeOrmModule.forFeature([HostEvent])], controllers: [HostEventsController] })
class HostEventsModule {}

// --- the host app: tally's event store in schema `tally`, everything else in public ------------
function hostModule(databaseUrl: string) {
  @Module({
    imports: [
      TypeOrmModule.forRootAsync({
        useFactory: () => ({
          type: 'postgres',
          url: databaseUrl,
          autoLoadEntities: true,
          migrations: [
            ...tallyMigrations({ schema: SCHEMA }),
            HostEvents1800000000002,
            LargeWithdrawals1800000000000,
          ],
          migrationsRun: true,
        }),
      }),
      CqrsModule.forRoot(),
      EventSourcingModule.forRootAsync({
        useFactory: () => ({
          schema: SCHEMA,
          batchSize: 100,
          pollIntervalMs: 200,
          snapshotEvery: 2,
        }),
      }),
      HostEventsModule,
      AccountsHttpModule,
      FreezeModule,
    ],
  })
  class HostModule {}
  return HostModule;
}

describe('a NestJS host app with the event store in its own schema', () => {
  let app: INestApplication;
  let http: TestAgent;
  let dataSource: DataSource;

  beforeAll(async () => {
    app = await NestFactory.create(hostModule(await createTestDatabase({ empty: true })), {
      logger: false,
      abortOnError: false,
    });
    await app.init();
    http = request(app.getHttpServer());
    dataSource = app.get(DataSource);
  });
  afterAll(() => app?.close());

  const tablesIn = async (schema: string): Promise<string[]> =>
    (
      await dataSource.query(
        `SELECT table_name AS name FROM information_schema.tables
         WHERE table_schema = $1 ORDER BY table_name`,
        [schema],
      )
    ).map((row: { name: string }) => row.name);

  it("creates the event store's tables in the schema, and only there", async () => {
    expect(await tablesIn(SCHEMA)).toEqual(EVENT_STORE_TABLES);
    const publicTables = await tablesIn('public');
    for (const table of ['parked_events', 'projection_checkpoints', 'snapshots']) {
      expect(publicTables).not.toContain(table);
    }
    // The read models, TypeORM's migrations table and the host's own `events` stay in public.
    expect(publicTables).toEqual(
      expect.arrayContaining([
        'account_summaries',
        'statement_lines',
        'example_large_withdrawals',
        'migrations',
        'events',
      ]),
    );
    const [{ columns }] = await dataSource.query(
      `SELECT array_agg(column_name::text ORDER BY ordinal_position) AS columns
       FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'events'`,
    );
    expect(columns).toEqual(['id', 'name']);
    // The append-only trigger came along with the table.
    await expect(dataSource.query(`DELETE FROM "tally"."events"`)).rejects.toThrow(
      'events are append-only',
    );
  });

  it("serves the host's own `events` table beside tally's", async () => {
    await http.post('/host-events').send({ name: 'signed-up' }).expect(201);
    expect((await http.get('/host-events').expect(200)).body).toEqual([
      { id: 1, name: 'signed-up' },
    ]);
  });

  it('opens, deposits and reads an account over HTTP, with the events in the schema', async () => {
    const opened = await http
      .post('/accounts')
      .send({ ownerId: 'schema', initialDeposit: 500 })
      .expect(201);
    const { accountId } = opened.body;
    await http.post(`/accounts/${accountId}/deposits`).send({ amount: 250 }).expect(201);
    const last = await http
      .post(`/accounts/${accountId}/deposits`)
      .send({ amount: 100 })
      .expect(201);
    const read = await http
      .get(`/accounts/${accountId}?minPosition=${last.body.position}`)
      .expect(200);
    expect(read.body).toMatchObject({ ownerId: 'schema', balance: 850 });
    const [{ n }] = await dataSource.query(
      `SELECT count(*)::int AS n FROM "tally"."events" WHERE stream_id = $1`,
      [accountId],
    );
    expect(n).toBe(3);
    // snapshotEvery: 2, written in the background into tally.snapshots.
    await pollUntil(
      async () => {
        const rows = await dataSource.query(
          `SELECT 1 FROM "tally"."snapshots" WHERE stream_id = $1`,
          [accountId],
        );
        return rows.length > 0 ? true : undefined;
      },
      { what: 'a snapshot in tally.snapshots' },
    );
    const history = await http.get(`/accounts/${accountId}/events`).expect(200);
    expect(history.body.items.map((e: { type: string }) => e.type)).toEqual([
      'AccountOpened',
      'MoneyDeposited',
      'MoneyDeposited',
    ]);
  });

  it("catches the host's projection up, with its checkpoint in the schema", async () => {
    const { body } = await http
      .post('/accounts')
      .send({ ownerId: 'schema-big', initialDeposit: 500_000 })
      .expect(201);
    const big = await http
      .post(`/accounts/${body.accountId}/withdrawals`)
      .send({ amount: 300_000 })
      .expect(201);
    const rows = await app.get(QueryBus).execute(new ListLargeWithdrawalsQuery(big.body.position));
    expect(rows).toEqual([
      { position: big.body.position, accountId: body.accountId, amount: 300_000 },
    ]);
    const processor = app.get(GlobalLogProcessor);
    await waitUntilCaughtUp(processor, [LARGE_WITHDRAWALS, 'account-summary']);
    const [checkpoint] = await dataSource.query(
      `SELECT global_position::int AS position FROM "tally"."projection_checkpoints" WHERE name = $1`,
      [LARGE_WITHDRAWALS],
    );
    expect(checkpoint.position).toBeGreaterThanOrEqual(big.body.position);
  });
});

describe('tallyMigrations({ schema })', () => {
  it('runs up and down in the schema and restores the search_path', async () => {
    const dataSource = await new DataSource({
      type: 'postgres',
      url: await createTestDatabase({ empty: true }),
      migrations: tallyMigrations({ schema: 'es' }),
      extra: { max: 1 }, // one connection: the one the migrations ran on
    }).initialize();
    try {
      const [{ path }] = await dataSource.query(`SELECT current_setting('search_path') AS path`);
      await dataSource.runMigrations({ transaction: 'each' });
      const names = (await dataSource.query(`SELECT name FROM migrations ORDER BY id`)).map(
        (row: { name: string }) => row.name,
      );
      expect(names[0]).toBe('EventStore1764200000000');
      expect(names).toHaveLength(tallyMigrations().length);
      expect(
        (await dataSource.query(`SELECT current_setting('search_path') AS path`))[0].path,
      ).toBe(path);
      const inSchema = `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'es'`;
      expect((await dataSource.query(inSchema))[0].n).toBe(4);
      for (let i = 0; i < names.length; i++) await dataSource.undoLastMigration();
      expect((await dataSource.query(inSchema))[0].n).toBe(0);
      expect(
        (await dataSource.query(`SELECT current_setting('search_path') AS path`))[0].path,
      ).toBe(path);
    } finally {
      await dataSource.destroy();
    }
  });

  it('refuses a schema that is not a plain identifier', () => {
    expect(() => tallyMigrations({ schema: 'Tally"; DROP SCHEMA public; --' })).toThrow(
      /plain lower-case identifier/,
    );
  });

  it('is the released list without a schema', () => {
    expect(tallyMigrations()).toBe(migrations);
  });
});
