/**
 * A pool of 5, the least DATABASE_POOL_SIZE takes (the variable itself is read in config.spec and
 * through the compiled app in test/crash/processor-thread): under concurrent deposits and
 * transfers, the app keeps to that many connections (and its listener's), and the processors'
 * batches and the saga's commands, which hold or need connections at once, still get through.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { startTestApp, type TestApp } from '../support/app.js';
import { balanceOf, openAccount, waitForTransfer } from '../support/http.js';

const POOL_SIZE = 5;

describe(`a pool of ${POOL_SIZE} connections`, () => {
  let t: TestApp;
  let observer: pg.Client;
  beforeAll(async () => {
    t = await startTestApp({ poolSize: POOL_SIZE });
    observer = new pg.Client({ connectionString: t.databaseUrl });
    await observer.connect();
  });
  afterAll(async () => {
    await observer.end();
    await t.close();
  });

  /**
   * Connections to the app's database other than the observer's: client backends only (an
   * autovacuum worker on one of its tables is counted in pg_stat_activity under its name too).
   */
  const connections = async () =>
    (
      await observer.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()
            AND backend_type = 'client backend'`,
      )
    ).rows[0].n as number;

  it('serves concurrent deposits and transfers within it', async () => {
    const accounts: string[] = [];
    for (let i = 0; i < 8; i++) accounts.push(await openAccount(t.http, { initialDeposit: 1000 }));

    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        most = Math.max(most, await connections());
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const deposits = Array.from({ length: 40 }, (_, i) =>
      t.http
        .post(`/accounts/${accounts[i % accounts.length]}/deposits`)
        .send({ amount: 10 })
        .expect(201),
    );
    const transfers = Array.from({ length: 16 }, (_, i) =>
      t.http
        .post('/transfers')
        .send({
          fromAccountId: accounts[i % accounts.length],
          toAccountId: accounts[(i + 1) % accounts.length],
          amount: 25,
        })
        .expect(202),
    );
    await Promise.all(deposits);
    const accepted = await Promise.all(transfers);
    const ends = await Promise.all(
      accepted.map((res) => waitForTransfer(t.http, res.body.transferId)),
    );
    sampling = false;
    await sampler;

    expect(ends.map((end) => end.status)).toEqual(ends.map(() => 'completed'));
    const balances = await Promise.all(accounts.map((id) => balanceOf(t.http, id)));
    // Each account got 5 deposits and gave and received 2 transfers of 25.
    expect(balances).toEqual(accounts.map(() => 1050));
    // The pool's connections, and the listener's.
    expect(most).toBeLessThanOrEqual(POOL_SIZE + 1);
    expect(most).toBeGreaterThan(1);
    const metrics = await t.http.get('/metrics').expect(200);
    expect(metrics.text).toMatch(new RegExp(`^tally_db_pool_max_connections ${POOL_SIZE}$`, 'm'));
  });
});
