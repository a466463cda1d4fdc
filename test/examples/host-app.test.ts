import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Body, Controller, Get, Module, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CommandBus, CqrsModule, QueryBus } from '@nestjs/cqrs';
import { InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import {
  Column,
  Entity,
  PrimaryGeneratedColumn,
  type MigrationInterface,
  type QueryRunner,
  type Repository,
} from 'typeorm';
import { migrations as tallyMigrations } from '../../migrations/index.js';
import { AccountsHttpModule } from '../../src/accounts/accounts.module.js';
import { EventSourcingModule, GlobalLogProcessor } from '../../src/event-sourcing/index.js';
import { createTestDatabase } from '../support/database.js';
import { FreezeAccountCommand } from './freeze/freeze-account.command.js';
import { FreezeModule } from './freeze/freeze.module.js';
import {
  LARGE_WITHDRAWALS,
  LargeWithdrawals1800000000000,
  ListLargeWithdrawalsQuery,
} from './freeze/large-withdrawals.js';

// --- the host's own, unrelated module ---------------------------------------------------------
@Entity('host_notes')
class Note {
  @PrimaryGeneratedColumn() id: number;
  @Column('text') text: string;
}

class HostNotes1800000000001 implements MigrationInterface {
  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE TABLE host_notes (id serial PRIMARY KEY, text text NOT NULL)`);
  }
  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE host_notes`);
  }
}

@Controller('notes')
class NotesController {
  constructor(@InjectRepository(Note) private readonly notes: Repository<Note>) {}

  @Post()
  create(@Body() body: { text: string }) {
    return this.notes.save({ text: body.text });
  }

  @Get()
  list() {
    return this.notes.find();
  }
}

@Module({ imports: [TypeOrmModule.forFeature([Note])], controllers: [NotesController] })
class NotesModule {}

// --- the host app: its TypeORM connection, reused by tally ----------------------------------------
function hostModule(databaseUrl: string) {
  @Module({
    imports: [
      TypeOrmModule.forRootAsync({
        useFactory: () => ({
          type: 'postgres',
          url: databaseUrl,
          autoLoadEntities: true,
          migrations: [...tallyMigrations, HostNotes1800000000001, LargeWithdrawals1800000000000],
          migrationsRun: true,
        }),
      }),
      CqrsModule.forRoot(),
      EventSourcingModule.forRootAsync({
        useFactory: () => ({ batchSize: 100, pollIntervalMs: 200 }),
      }),
      NotesModule,
      AccountsHttpModule,
      FreezeModule,
    ],
  })
  class HostModule {}
  return HostModule;
}

describe('a NestJS host app that imports tally', () => {
  let app: INestApplication;
  let http: TestAgent;

  beforeAll(async () => {
    app = await NestFactory.create(hostModule(await createTestDatabase()), {
      logger: false,
      abortOnError: false,
    });
    await app.init();
    http = request(app.getHttpServer());
  });
  afterAll(() => app?.close());

  it('serves its own routes and entity', async () => {
    await http.post('/notes').send({ text: 'hello' }).expect(201);
    expect((await http.get('/notes').expect(200)).body).toEqual([{ id: 1, text: 'hello' }]);
  });

  it("serves tally's accounts on the same connection", async () => {
    const opened = await http
      .post('/accounts')
      .send({ ownerId: 'host', initialDeposit: 500 })
      .expect(201);
    const read = await http
      .get(`/accounts/${opened.body.accountId}?minPosition=${opened.body.position}`)
      .expect(200);
    expect(read.body).toMatchObject({ ownerId: 'host', balance: 500 });
  });

  it('answers errors of tally routes with the contract body', async () => {
    const res = await http
      .post('/accounts')
      .send({ ownerId: 'host', initialDeposit: -1 })
      .expect(400);
    expect(res.body).toEqual({
      statusCode: 400,
      code: 'VALIDATION_FAILED',
      message: expect.any(String),
    });
  });

  describe('extended with its own command, read model and query (README "Extending")', () => {
    it('freezes an account through its own command', async () => {
      const { body } = await http.post('/accounts').send({ ownerId: 'freeze' }).expect(201);
      const metadata = {
        commandId: '1d7e0c55-93a1-4b1e-8f0e-5b0c3a2d1e00',
        correlationId: 'freeze-test',
      };
      const result = await app
        .get(CommandBus)
        .execute(new FreezeAccountCommand(body.accountId, 'fraud check', metadata));
      expect(result.version).toBe(1);
      const again = await app
        .get(CommandBus)
        .execute(new FreezeAccountCommand(body.accountId, 'fraud check', metadata));
      expect(again.version).toBe(1);
      const events = (await http.get(`/accounts/${body.accountId}/events`).expect(200)).body.items;
      expect(events.map((e: { type: string }) => e.type)).toEqual([
        'AccountOpened',
        'AccountFrozen',
      ]);
      expect(events[1].data).toEqual({ accountId: body.accountId, reason: 'fraud check' });
    });

    it('lists large withdrawals from its own read model', async () => {
      const { body } = await http
        .post('/accounts')
        .send({ ownerId: 'big', initialDeposit: 500_000 })
        .expect(201);
      await http.post(`/accounts/${body.accountId}/withdrawals`).send({ amount: 500 }).expect(201);
      const big = await http
        .post(`/accounts/${body.accountId}/withdrawals`)
        .send({ amount: 250_000 })
        .expect(201);
      const rows = await app
        .get(QueryBus)
        .execute(new ListLargeWithdrawalsQuery(big.body.position));
      expect(rows).toEqual([
        { position: big.body.position, accountId: body.accountId, amount: 250_000 },
      ]);
      const names = (await app.get(GlobalLogProcessor).list()).map((p) => p.name);
      expect(names).toContain(LARGE_WITHDRAWALS);
    });
  });
});
