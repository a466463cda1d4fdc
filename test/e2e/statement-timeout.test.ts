/**
 * A statement the server gives up on (statement_timeout, SQLSTATE 57014): the request answers 503
 * DATABASE_UNAVAILABLE, to retry, not 500, and stores nothing; once the database is quick again,
 * the same request succeeds.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase } from '../support/database.js';
import { openAccount } from '../support/http.js';

describe('a statement the database gives up on', () => {
  let t: TestApp;
  let admin: pg.Client;

  beforeAll(async () => {
    const url = await createTestDatabase();
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
    // For the app's connections (opened after this): a statement waiting longer is cancelled.
    const { rows } = await admin.query<{ db: string }>('SELECT current_database() AS db');
    await admin.query(
      'ALTER DATABASE ' + pg.escapeIdentifier(rows[0].db) + " SET statement_timeout = '500ms'",
    );
    t = await startTestApp({ databaseUrl: url });
  });
  afterAll(async () => {
    await t?.close();
    await admin.end();
  });

  it('answers 503 DATABASE_UNAVAILABLE, storing nothing, while a lock holds the append back', async () => {
    const account = await openAccount(t.http, { initialDeposit: 100 });
    // Another session locks the table against writes: the deposit's INSERT waits, and is cancelled.
    await admin.query('BEGIN');
    try {
      await admin.query('LOCK TABLE events IN SHARE MODE');
      const res = await t.http.post(`/accounts/${account}/deposits`).send({ amount: 5 });
      expect(res.status).toBe(503);
      expect(res.body).toEqual({
        statusCode: 503,
        code: 'DATABASE_UNAVAILABLE',
        message: expect.stringContaining('retry'),
      });
    } finally {
      await admin.query('ROLLBACK');
    }
    const { rows } = await admin.query(
      `SELECT count(*)::int AS n FROM events WHERE stream_id = $1`,
      [account],
    );
    expect(rows[0].n).toBe(1);
    await t.http.post(`/accounts/${account}/deposits`).send({ amount: 5 }).expect(201);
  });
});
