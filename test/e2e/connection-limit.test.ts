/**
 * PostgreSQL refuses a connection beyond a limit (max_connections, a role's or a database's
 * CONNECTION LIMIT: SQLSTATE 53300, "too many clients"). The requests that needed one answer 503
 * DATABASE_UNAVAILABLE, to retry, not 500; nothing they carried is stored.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase } from '../support/database.js';

describe('a database that refuses more connections', () => {
  let t: TestApp;
  let admin: pg.Client;
  const role = `tally_limited_${randomBytes(4).toString('hex')}`;
  // For a server that checks passwords (the embedded one does).
  const password = randomBytes(12).toString('hex');
  const ident = (name: string) => pg.escapeIdentifier(name);
  const literal = (value: string) => pg.escapeLiteral(value);

  beforeAll(async () => {
    const url = await createTestDatabase();
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
    // Superusers are not held to a CONNECTION LIMIT: the app connects as a role that is. Three
    // connections: the listener's and two of the pool's (of five).
    await admin.query(
      'CREATE ROLE ' + ident(role) + ' LOGIN CONNECTION LIMIT 3 PASSWORD ' + literal(password),
    );
    await admin.query('GRANT ALL ON SCHEMA public TO ' + ident(role));
    await admin.query('GRANT ALL ON ALL TABLES IN SCHEMA public TO ' + ident(role));
    await admin.query('GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ' + ident(role));
    const limited = new URL(url);
    limited.username = role;
    limited.password = password;
    t = await startTestApp({ databaseUrl: limited.toString(), poolSize: 5 });
  });
  afterAll(async () => {
    // Roles are the whole server's: dropped whatever happens to the app.
    try {
      await t?.close();
    } finally {
      await admin.query('DROP OWNED BY ' + ident(role));
      await admin.query('DROP ROLE ' + ident(role));
      await admin.end();
    }
  });

  it('answers 503 DATABASE_UNAVAILABLE to the requests it could not serve, storing nothing of them', async () => {
    // The processors' batches take connections too: open the account once one is free.
    let account: string | undefined;
    for (let tries = 0; !account; tries++) {
      const res = await t.http.post('/accounts').send({ ownerId: 'limited' });
      if (res.status === 201) account = res.body.accountId as string;
      else expect(res.body.code).toBe('DATABASE_UNAVAILABLE');
      if (tries >= 100) throw new Error('no account opened in 100 tries');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const responses = await Promise.all(
      Array.from({ length: 30 }, () =>
        t.http.post(`/accounts/${account}/deposits`).send({ amount: 1 }),
      ),
    );
    const statuses = responses.map((res) => res.status);
    expect(statuses.every((status) => status === 201 || status === 503)).toBe(true);
    const refused = responses.filter((res) => res.status === 503);
    expect(refused.length).toBeGreaterThan(0);
    for (const res of refused) expect(res.body.code).toBe('DATABASE_UNAVAILABLE');
    const { rows } = await admin.query(
      `SELECT count(*)::int AS n FROM events WHERE stream_id = $1 AND type = 'MoneyDeposited'`,
      [account],
    );
    expect(rows[0].n).toBe(statuses.filter((status) => status === 201).length);
  });
});

describe('a database that accepts no connections', () => {
  let t: TestApp;
  let admin: pg.Client;
  let name: string;

  beforeAll(async () => {
    const url = await createTestDatabase();
    name = decodeURIComponent(new URL(url).pathname.slice(1));
    // On the server's maintenance database: the app's own connections are ended below.
    const maintenance = new URL(url);
    maintenance.pathname = '/postgres';
    admin = new pg.Client({ connectionString: maintenance.toString() });
    await admin.connect();
    t = await startTestApp({ databaseUrl: url, poolSize: 5 });
  });
  afterAll(async () => {
    try {
      await admin.query('ALTER DATABASE ' + pg.escapeIdentifier(name) + ' ALLOW_CONNECTIONS true');
      await t?.close();
    } finally {
      await admin.end();
    }
  });

  it('answers 503 DATABASE_UNAVAILABLE (55000 at login), then serves again once it does', async () => {
    const { body: opened } = await t.http.post('/accounts').send({ ownerId: 'closed-db' });
    await admin.query('ALTER DATABASE ' + pg.escapeIdentifier(name) + ' ALLOW_CONNECTIONS false');
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
      name,
    ]);
    for (const send of [
      () => t.http.get(`/accounts/${opened.accountId}`),
      () => t.http.get(`/accounts/${opened.accountId}/state`),
      () => t.http.post(`/accounts/${opened.accountId}/deposits`).send({ amount: 1 }),
      () => t.http.post('/accounts').send({ ownerId: 'closed-db' }),
    ]) {
      const res = await send();
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('DATABASE_UNAVAILABLE');
    }
    await admin.query('ALTER DATABASE ' + pg.escapeIdentifier(name) + ' ALLOW_CONNECTIONS true');
    await t.http.post(`/accounts/${opened.accountId}/deposits`).send({ amount: 1 }).expect(201);
  });
});
