import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../support/app.js';
import { balanceOf, openAccount, waitForTransfer } from '../support/http.js';

describe('transfers', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  const transfer = (
    fromAccountId: string,
    toAccountId: string,
    amount: number,
    headers: Record<string, string> = {},
  ) => t.http.post('/transfers').set(headers).send({ fromAccountId, toAccountId, amount });

  describe('when the source has the money', () => {
    it('moves it and completes', async () => {
      const from = await openAccount(t.http, { initialDeposit: 1000 });
      const to = await openAccount(t.http);
      const accepted = await transfer(from, to, 300).expect(202);
      expect(accepted.body).toEqual({
        transferId: expect.any(String),
        position: expect.any(Number),
      });
      const done = await waitForTransfer(t.http, accepted.body.transferId);
      expect(done).toEqual({
        transferId: accepted.body.transferId,
        fromAccountId: from,
        toAccountId: to,
        amount: 300,
        status: 'completed',
      });
      expect(await balanceOf(t.http, from)).toBe(700);
      expect(await balanceOf(t.http, to)).toBe(300);
    });

    it('takes ids in capitals as the same ids, and shows them in lower case', async () => {
      const from = await openAccount(t.http, { initialDeposit: 100 });
      const to = await openAccount(t.http);
      const accepted = await transfer(from.toUpperCase(), to.toUpperCase(), 40).expect(202);
      const done = await waitForTransfer(t.http, accepted.body.transferId.toUpperCase());
      expect(done).toMatchObject({
        transferId: accepted.body.transferId,
        fromAccountId: from,
        toAccountId: to,
        status: 'completed',
      });
      expect(await balanceOf(t.http, to)).toBe(40);
    });

    it('shows the transfer id on both statements', async () => {
      const from = await openAccount(t.http, { initialDeposit: 50 });
      const to = await openAccount(t.http);
      const { body } = await transfer(from, to, 20).expect(202);
      await waitForTransfer(t.http, body.transferId);
      const [toEvents] = (await t.http.get(`/accounts/${to}/events`)).body.items.slice(-1);
      const toLines = await t.http
        .get(`/accounts/${to}/transactions?minPosition=${toEvents.position}`)
        .expect(200);
      expect(toLines.body.items).toEqual([
        expect.objectContaining({
          type: 'credit',
          amount: 20,
          balanceAfter: 20,
          transferId: body.transferId,
        }),
      ]);
      const [fromLast] = (await t.http.get(`/accounts/${from}/events`)).body.items.slice(-1);
      const fromLines = await t.http
        .get(`/accounts/${from}/transactions?minPosition=${fromLast.position}`)
        .expect(200);
      expect(fromLines.body.items[1]).toEqual(
        expect.objectContaining({
          type: 'debit',
          amount: 20,
          balanceAfter: 30,
          transferId: body.transferId,
        }),
      );
    });

    it("puts the request's correlation id on both accounts' events", async () => {
      const from = await openAccount(t.http, { initialDeposit: 50 });
      const to = await openAccount(t.http);
      const { body } = await transfer(from, to, 10, {
        'X-Correlation-Id': 'transfer-corr-1',
      }).expect(202);
      await waitForTransfer(t.http, body.transferId);
      for (const account of [from, to]) {
        const last = (await t.http.get(`/accounts/${account}/events`)).body.items.at(-1);
        expect(last.metadata.correlationId).toBe('transfer-corr-1');
        expect(last.metadata.causationId).toEqual(expect.any(String));
      }
    });
  });

  describe('when the source is short of funds', () => {
    it('fails with INSUFFICIENT_FUNDS and moves nothing', async () => {
      const from = await openAccount(t.http, { initialDeposit: 100 });
      const to = await openAccount(t.http);
      const { body } = await transfer(from, to, 101).expect(202);
      expect(await waitForTransfer(t.http, body.transferId)).toMatchObject({
        status: 'failed',
        reason: 'INSUFFICIENT_FUNDS',
      });
      expect(await balanceOf(t.http, from)).toBe(100);
      expect(await balanceOf(t.http, to)).toBe(0);
    });
  });

  describe('when the target is closed', () => {
    it('fails with ACCOUNT_CLOSED and refunds the source', async () => {
      const from = await openAccount(t.http, { initialDeposit: 100 });
      const to = await openAccount(t.http);
      await t.http.post(`/accounts/${to}/close`).send({}).expect(201);
      const { body } = await transfer(from, to, 60).expect(202);
      expect(await waitForTransfer(t.http, body.transferId)).toMatchObject({
        status: 'failed',
        reason: 'ACCOUNT_CLOSED',
      });
      expect(await balanceOf(t.http, from)).toBe(100);
      const types = (await t.http.get(`/accounts/${from}/events`)).body.items.map(
        (e: { type: string }) => e.type,
      );
      expect(types).toEqual(['AccountOpened', 'MoneyWithdrawn', 'MoneyDeposited']);
    });
  });

  describe('when the request is wrong', () => {
    it('refuses the same account on both sides', async () => {
      const a = await openAccount(t.http, { initialDeposit: 10 });
      const res = await transfer(a, a, 5).expect(422);
      expect(res.body).toEqual({
        statusCode: 422,
        code: 'SAME_ACCOUNT',
        message: expect.any(String),
      });
    });

    it('refuses accounts in different currencies', async () => {
      const usd = await openAccount(t.http, { initialDeposit: 10 });
      const eur = await openAccount(t.http, { currency: 'EUR' });
      const res = await transfer(usd, eur, 5).expect(422);
      expect(res.body.code).toBe('CURRENCY_MISMATCH');
    });

    it('answers 404 for an unknown account', async () => {
      const a = await openAccount(t.http, { initialDeposit: 10 });
      const res = await transfer(a, '6b0fd1a2-58a8-4d4e-9d3e-0d5d2f0c1a99', 5).expect(404);
      expect(res.body.code).toBe('ACCOUNT_NOT_FOUND');
    });

    it.each([
      ['a zero amount', { amount: 0 }],
      ['a fractional amount', { amount: 1.5 }],
      ['a string amount', { amount: '5' }],
      ['a missing account', { fromAccountId: undefined }],
      ['a non-UUID account', { toAccountId: 'nope' }],
      ['an unknown field', { memo: 'hi' }],
    ])('refuses %s with 400', async (_name, change) => {
      const from = '6b0fd1a2-58a8-4d4e-9d3e-0d5d2f0c1a01';
      const to = '6b0fd1a2-58a8-4d4e-9d3e-0d5d2f0c1a02';
      const res = await t.http
        .post('/transfers')
        .send({ fromAccountId: from, toAccountId: to, amount: 5, ...change })
        .expect(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
    });

    it('answers 404 TRANSFER_NOT_FOUND for an unknown transfer', async () => {
      const res = await t.http.get('/transfers/6b0fd1a2-58a8-4d4e-9d3e-0d5d2f0c1a03').expect(404);
      expect(res.body.code).toBe('TRANSFER_NOT_FOUND');
    });
  });

  describe('when 80 transfers run at once among 6 accounts', () => {
    it('conserves the total and never overdraws', async () => {
      const accounts = await Promise.all(
        Array.from({ length: 6 }, () => openAccount(t.http, { initialDeposit: 500 })),
      );
      const accepted = await Promise.all(
        Array.from({ length: 80 }, (_, i) => {
          const from = accounts[i % 6];
          const to = accounts[(i * 7 + 1) % 6 === i % 6 ? (i + 1) % 6 : (i * 7 + 1) % 6];
          return transfer(from, to, 50 + ((i * 37) % 200)).expect(202);
        }),
      );
      const outcomes = await Promise.all(
        accepted.map((res) => waitForTransfer(t.http, res.body.transferId, 60_000)),
      );
      expect(
        outcomes.every((o) => o.status === 'completed' || o.reason === 'INSUFFICIENT_FUNDS'),
      ).toBe(true);
      const balances = await Promise.all(accounts.map((a) => balanceOf(t.http, a)));
      expect(balances.reduce((sum, b) => sum + b, 0)).toBe(3000);
      for (const b of balances) expect(b).toBeGreaterThanOrEqual(0);
    }, 90_000);
  });
});
