import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../support/app.js';
import { balanceOf, openAccount, waitForTransfer } from '../support/http.js';

describe('transfers with two app instances on one database', () => {
  let one: TestApp;
  let two: TestApp;
  beforeAll(async () => {
    one = await startTestApp();
    two = await startTestApp({ databaseUrl: one.databaseUrl });
  });
  afterAll(async () => {
    await one?.close();
    await two?.close();
  });

  it('processes each transfer step once', async () => {
    const accounts = await Promise.all(
      Array.from({ length: 4 }, () => openAccount(one.http, { initialDeposit: 1_000 })),
    );
    const accepted = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? one : two).http
          .post('/transfers')
          .send({
            fromAccountId: accounts[i % 4],
            toAccountId: accounts[(i + 1) % 4],
            amount: 10 + i,
          })
          .expect(202),
      ),
    );
    const ids = accepted.map((r) => r.body.transferId as string);
    for (const id of ids)
      expect((await waitForTransfer(one.http, id, 60_000)).status).toBe('completed');

    const total = (await Promise.all(accounts.map((a) => balanceOf(one.http, a)))).reduce(
      (s, b) => s + b,
      0,
    );
    expect(total).toBe(4_000);
    const moves = new Map<string, number>();
    for (const account of accounts) {
      const events = (await one.http.get(`/accounts/${account}/events`).expect(200)).body.items;
      for (const e of events) {
        if (!e.data.transferId) continue;
        const key = `${e.type}:${e.data.transferId}`;
        moves.set(key, (moves.get(key) ?? 0) + 1);
      }
    }
    for (const id of ids) {
      expect(moves.get(`MoneyWithdrawn:${id}`)).toBe(1);
      expect(moves.get(`MoneyDeposited:${id}`)).toBe(1);
    }
  }, 90_000);
});
