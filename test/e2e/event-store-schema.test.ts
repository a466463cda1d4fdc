import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { startTestApp, type TestApp } from '../support/app.js';
import { pollUntil } from '../support/projections.js';
import { createTestDatabase } from '../support/database.js';

// The standalone app with EVENT_STORE_SCHEMA=es: its migrations and every event-store statement.
describe('the app with its event store in a schema (EVENT_STORE_SCHEMA)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({
      databaseUrl: await createTestDatabase({ empty: true }),
      eventStoreSchema: 'es',
    });
  });
  afterAll(() => t?.close());

  it('migrates the event store into the schema and serves accounts, projections and metrics', async () => {
    const dataSource = t.app.get(DataSource);
    const tables = async (schema: string) =>
      (
        await dataSource.query(
          `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
          [schema],
        )
      ).map((row: { name: string }) => row.name);
    expect(await tables('es')).toEqual([
      'events',
      'parked_events',
      'projection_checkpoints',
      'snapshots',
    ]);
    expect(await tables('public')).not.toContain('events');
    expect(await tables('public')).toEqual(
      expect.arrayContaining(['account_summaries', 'idempotency_keys', 'transfer_summaries']),
    );

    const a = await t.http
      .post('/accounts')
      .send({ ownerId: 'es', initialDeposit: 300 })
      .expect(201);
    const b = await t.http.post('/accounts').send({ ownerId: 'es' }).expect(201);
    const transfer = await t.http
      .post('/transfers')
      .send({ fromAccountId: a.body.accountId, toAccountId: b.body.accountId, amount: 100 })
      .expect(202);
    // The saga (its checkpoint in es.projection_checkpoints) moves the money.
    const done = await pollUntil(
      async () => {
        const res = await t.http.get(`/transfers/${transfer.body.transferId}`);
        return res.status === 200 && res.body.status !== 'pending' ? res.body : undefined;
      },
      { what: 'the transfer to finish' },
    );
    expect(done.status).toBe('completed');
    const { body: projections } = await t.http.get('/projections').expect(200);
    expect(projections.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'transfer-saga', status: 'running' }),
        expect.objectContaining({ name: 'account-summary', status: 'running' }),
      ]),
    );
    const metrics = await t.http.get('/metrics').expect(200);
    expect(metrics.text).toMatch(/^tally_events_appended [1-9]\d*$/m);
  });
});
