import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { GlobalLogProcessor } from '../../src/event-sourcing/index.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase } from '../support/database.js';

/** The read tables, row by row, in a stable order. */
async function readTables(dataSource: DataSource) {
  return {
    summaries: await dataSource.query(`SELECT * FROM account_summaries ORDER BY account_id`),
    lines: await dataSource.query(`SELECT * FROM statement_lines ORDER BY account_id, version`),
  };
}

describe('the global-log processor', () => {
  describe('when the app restarts between append and projection', () => {
    let databaseUrl: string;
    const balances = new Map<string, number>();
    let lastPosition = 0;

    beforeAll(async () => {
      databaseUrl = await createTestDatabase();
      const writer = await startTestApp({ databaseUrl, eventSourcing: { runProcessors: false } });
      for (let i = 0; i < 5; i++) {
        const { body } = await writer.http
          .post('/accounts')
          .send({ ownerId: 'restart', initialDeposit: 100 * i })
          .expect(201);
        await writer.http
          .post(`/accounts/${body.accountId}/deposits`)
          .send({ amount: 7 })
          .expect(201);
        const last = await writer.http
          .post(`/accounts/${body.accountId}/withdrawals`)
          .send({ amount: 3 })
          .expect(201);
        balances.set(body.accountId, 100 * i + 4);
        lastPosition = last.body.position;
      }
      expect((await readTables(writer.app.get(DataSource))).summaries).toHaveLength(0);
      await writer.close();
    });

    it('converges to the fold of the streams once processors run again', async () => {
      const reader = await startTestApp({ databaseUrl });
      try {
        const { body } = await reader.http
          .get(`/accounts?ownerId=restart&minPosition=${lastPosition}`)
          .expect(200);
        expect(
          new Map(
            body.items.map((a: { accountId: string; balance: number }) => [a.accountId, a.balance]),
          ),
        ).toEqual(balances);
      } finally {
        await reader.close();
      }
    });
  });

  describe('when running', () => {
    let t: TestApp;
    let dataSource: DataSource;

    beforeAll(async () => {
      t = await startTestApp();
      dataSource = t.app.get(DataSource);
    });
    afterAll(() => t.close());

    it('changes nothing when it replays events it already applied', async () => {
      const { body } = await t.http
        .post('/accounts')
        .send({ ownerId: 'replay', initialDeposit: 50 })
        .expect(201);
      const last = await t.http
        .post(`/accounts/${body.accountId}/deposits`)
        .send({ amount: 25 })
        .expect(201);
      await t.app.get(GlobalLogProcessor).waitForPosition('account-statement', last.body.position);
      await t.app.get(GlobalLogProcessor).waitForPosition('account-summary', last.body.position);
      const before = await readTables(dataSource);
      await dataSource.query(
        `UPDATE projection_checkpoints SET transaction_id = '0', global_position = 0`,
      );
      const next = await t.http.post('/accounts').send({ ownerId: 'replay-marker' }).expect(201);
      await t.app.get(GlobalLogProcessor).waitForPosition('account-statement', next.body.position);
      await t.app.get(GlobalLogProcessor).waitForPosition('account-summary', next.body.position);
      const after = await readTables(dataSource);
      expect(after.lines).toEqual(before.lines);
      expect(
        after.summaries.filter((s: { owner_id: string }) => s.owner_id !== 'replay-marker'),
      ).toEqual(before.summaries);
    });

    it('delivers an event whose transaction commits after later events, from another process', async () => {
      const { body: x } = await t.http
        .post('/accounts')
        .send({ ownerId: 'late', initialDeposit: 10 })
        .expect(201);
      const script = new pg.Client({ connectionString: t.databaseUrl });
      await script.connect();
      try {
        await script.query('BEGIN');
        const [held] = (
          await script.query(
            `INSERT INTO events (stream_id, version, type, schema_version, data)
             VALUES ($1, 1, 'MoneyDeposited', 2, jsonb_build_object('accountId', $1::text, 'amount', 5))
             RETURNING global_position`,
            [x.accountId],
          )
        ).rows;
        const { body: y } = await t.http
          .post('/accounts')
          .send({ ownerId: 'late', initialDeposit: 1 })
          .expect(201);
        await script.query('COMMIT');
        await t.http.get(`/accounts/${y.accountId}?minPosition=${y.position}`).expect(200);
        const read = await t.http
          .get(`/accounts/${x.accountId}?minPosition=${held.global_position}`)
          .expect(200);
        expect(read.body).toMatchObject({ balance: 15, version: 1 });
        const lines = await t.http.get(
          `/accounts/${x.accountId}/transactions?minPosition=${held.global_position}`,
        );
        expect(lines.body.items.map((l: { balanceAfter: number }) => l.balanceAfter)).toEqual([
          10, 15,
        ]);
      } finally {
        await script.end();
      }
    });

    it('answers 503 STALE_READ_MODEL when a position is not reached in time', async () => {
      const res = await t.http.get(`/accounts?ownerId=none&minPosition=999999999`).expect(503);
      expect(res.body).toEqual({
        statusCode: 503,
        code: 'STALE_READ_MODEL',
        message: expect.any(String),
      });
    }, 15_000);
  });
});
