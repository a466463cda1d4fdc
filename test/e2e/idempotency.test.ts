import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../support/app.js';
import { openAccount, waitForTransfer } from '../support/http.js';

describe('Idempotency-Key', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  const eventsOf = async (accountId: string) =>
    (await t.http.get(`/accounts/${accountId}/events`).expect(200)).body.items;

  describe('on a deposit', () => {
    it('returns the first response to a sequential repeat and deposits once', async () => {
      const account = await openAccount(t.http, { initialDeposit: 0 });
      const first = await t.http
        .post(`/accounts/${account}/deposits`)
        .set('Idempotency-Key', 'dep-1')
        .send({ amount: 40 });
      const repeat = await t.http
        .post(`/accounts/${account}/deposits`)
        .set('Idempotency-Key', 'dep-1')
        .send({ amount: 40 });
      expect(first.status).toBe(201);
      expect(repeat.status).toBe(201);
      expect(repeat.body).toEqual(first.body);
      // The same bytes, not only the same value (keys in the same order).
      expect(repeat.text).toBe(first.text);
      expect(await eventsOf(account)).toHaveLength(2);
    });

    it('deposits once when repeats arrive together', async () => {
      const account = await openAccount(t.http, { initialDeposit: 0 });
      const responses = await Promise.all(
        Array.from({ length: 10 }, () =>
          t.http
            .post(`/accounts/${account}/deposits`)
            .set('Idempotency-Key', 'dep-concurrent')
            .send({ amount: 7 }),
        ),
      );
      const created = responses.filter((r) => r.status === 201);
      expect(created.length).toBeGreaterThanOrEqual(1);
      for (const r of created) expect(r.body).toEqual(created[0].body);
      for (const r of responses.filter((r) => r.status !== 201)) {
        expect(r.status).toBe(409);
        expect(r.body.code).toBe('IDEMPOTENCY_KEY_IN_PROGRESS');
      }
      expect(await eventsOf(account)).toHaveLength(2);
    });

    it('refuses the same key with another body', async () => {
      const account = await openAccount(t.http, { initialDeposit: 0 });
      await t.http
        .post(`/accounts/${account}/deposits`)
        .set('Idempotency-Key', 'dep-2')
        .send({ amount: 1 })
        .expect(201);
      const other = await t.http
        .post(`/accounts/${account}/deposits`)
        .set('Idempotency-Key', 'dep-2')
        .send({ amount: 2 });
      expect(other.status).toBe(422);
      expect(other.body).toEqual({
        statusCode: 422,
        code: 'IDEMPOTENCY_KEY_REUSED',
        message: expect.any(String),
      });
      expect(await eventsOf(account)).toHaveLength(2);
    });

    it('treats no body and an empty object as the same request', async () => {
      const account = await openAccount(t.http, { initialDeposit: 0 });
      const first = await t.http
        .post(`/accounts/${account}/close`)
        .set('Idempotency-Key', 'close-1')
        .expect(201);
      const repeat = await t.http
        .post(`/accounts/${account}/close`)
        .set('Idempotency-Key', 'close-1')
        .send({})
        .expect(201);
      expect(repeat.text).toBe(first.text);
      expect(await eventsOf(account)).toHaveLength(2);
    });

    it('treats the same body in another key order as the same request', async () => {
      const account = await openAccount(t.http, { initialDeposit: 0 });
      const first = await t.http
        .post(`/accounts/${account}/deposits`)
        .set('Idempotency-Key', 'dep-3')
        .set('Content-Type', 'application/json')
        .send('{"amount": 5, "expectedVersion": 0}')
        .expect(201);
      const repeat = await t.http
        .post(`/accounts/${account}/deposits`)
        .set('Idempotency-Key', 'dep-3')
        .set('Content-Type', 'application/json')
        .send('{"expectedVersion": 0, "amount": 5}')
        .expect(201);
      expect(repeat.body).toEqual(first.body);
    });

    it('replays an error response too', async () => {
      const account = await openAccount(t.http, { initialDeposit: 0 });
      const first = await t.http
        .post(`/accounts/${account}/withdrawals`)
        .set('Idempotency-Key', 'wd-1')
        .send({ amount: 5 });
      expect(first.status).toBe(422);
      await t.http.post(`/accounts/${account}/deposits`).send({ amount: 100 }).expect(201);
      const repeat = await t.http
        .post(`/accounts/${account}/withdrawals`)
        .set('Idempotency-Key', 'wd-1')
        .send({ amount: 5 });
      expect(repeat.status).toBe(422);
      expect(repeat.body).toEqual(first.body);
    });

    it('refuses a key that is not 1 to 255 visible characters', async () => {
      const account = await openAccount(t.http, { initialDeposit: 0 });
      const res = await t.http
        .post(`/accounts/${account}/deposits`)
        .set('Idempotency-Key', 'x'.repeat(256))
        .send({ amount: 1 });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
    });
  });

  describe('on account opening', () => {
    it('opens one account for sequential and concurrent repeats', async () => {
      const send = () =>
        t.http
          .post('/accounts')
          .set('Idempotency-Key', 'open-1')
          .send({ ownerId: 'idem-owner', initialDeposit: 10 });
      const first = await send().expect(201);
      const again = await Promise.all([send(), send(), send()]);
      for (const r of again) expect(r.body).toEqual(first.body);
      const list = await t.http
        .get(`/accounts?ownerId=idem-owner&minPosition=${first.body.position}`)
        .expect(200);
      expect(list.body.items).toHaveLength(1);
    });

    it('refuses the key with another body', async () => {
      await t.http
        .post('/accounts')
        .set('Idempotency-Key', 'open-2')
        .send({ ownerId: 'a' })
        .expect(201);
      const res = await t.http
        .post('/accounts')
        .set('Idempotency-Key', 'open-2')
        .send({ ownerId: 'b' });
      expect(res.status).toBe(422);
      expect(res.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    });
  });

  describe('on a transfer', () => {
    it('starts one transfer for repeats, concurrent or not', async () => {
      const from = await openAccount(t.http, { initialDeposit: 100 });
      const to = await openAccount(t.http);
      const send = () =>
        t.http
          .post('/transfers')
          .set('Idempotency-Key', 'xfer-1')
          .send({ fromAccountId: from, toAccountId: to, amount: 30 });
      const responses = await Promise.all([send(), send(), send()]);
      const accepted = responses.filter((r) => r.status === 202);
      expect(accepted.length).toBeGreaterThanOrEqual(1);
      for (const r of responses) expect([202, 409]).toContain(r.status);
      const later = await send().expect(202);
      expect(later.body).toEqual(accepted[0].body);
      await waitForTransfer(t.http, later.body.transferId);
      const withdrawals = (await eventsOf(from)).filter(
        (e: { type: string }) => e.type === 'MoneyWithdrawn',
      );
      expect(withdrawals).toHaveLength(1);
    });
  });
});
