import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Request } from 'express';
import { startTestApp, type TestApp } from '../support/app.js';
import { openAccount, waitForTransfer } from '../support/http.js';

const forbidden = { statusCode: 403, code: 'FORBIDDEN', message: expect.any(String) };

describe('account ownership', () => {
  describe('when the host says who the caller is', () => {
    let t: TestApp;
    let alices: string;
    let bobs: string;
    beforeAll(async () => {
      // The host's authentication, reduced to a header for the test.
      t = await startTestApp({ ownerResolver: (request: Request) => request.header('x-owner-id') });
      alices = (
        await t.http
          .post('/accounts')
          .set('x-owner-id', 'alice')
          .send({ ownerId: 'alice', initialDeposit: 100 })
          .expect(201)
      ).body.accountId;
      bobs = (
        await t.http.post('/accounts').set('x-owner-id', 'bob').send({ ownerId: 'bob' }).expect(201)
      ).body.accountId;
    });
    afterAll(() => t.close());

    it('lets owners use their own accounts', async () => {
      await t.http.get(`/accounts/${alices}`).set('x-owner-id', 'alice').expect(200);
      await t.http
        .post(`/accounts/${alices}/deposits`)
        .set('x-owner-id', 'alice')
        .send({ amount: 5 })
        .expect(201);
      await t.http.get('/accounts?ownerId=alice').set('x-owner-id', 'alice').expect(200);
    });

    const routes: [string, 'get' | 'post', (id: string) => string, object | undefined][] = [
      ['read', 'get', (id) => `/accounts/${id}`, undefined],
      ['read the statement of', 'get', (id) => `/accounts/${id}/transactions`, undefined],
      ['read the events of', 'get', (id) => `/accounts/${id}/events`, undefined],
      ['deposit into', 'post', (id) => `/accounts/${id}/deposits`, { amount: 1 }],
      ['withdraw from', 'post', (id) => `/accounts/${id}/withdrawals`, { amount: 1 }],
      ['close', 'post', (id) => `/accounts/${id}/close`, {}],
    ];

    it.each(routes)(
      'refuses to let another owner %s an account, and appends nothing',
      async (_name, method, path, body) => {
        const events = () => t.http.get(`/accounts/${alices}/events`).set('x-owner-id', 'alice');
        const before = (await events()).body.items.length;
        const res = await t.http[method](path(alices)).set('x-owner-id', 'bob').send(body);
        expect(res.status).toBe(403);
        expect(res.body).toEqual(forbidden);
        expect((await events()).body.items.length).toBe(before);
      },
    );

    it.each(routes)(
      'refuses to let another owner %s an account named in capitals, and appends nothing',
      async (_name, method, path, body) => {
        const events = () => t.http.get(`/accounts/${alices}/events`).set('x-owner-id', 'alice');
        const before = (await events()).body.items.length;
        const res = await t.http[method](path(alices.toUpperCase()))
          .set('x-owner-id', 'bob')
          .send(body);
        expect(res.status).toBe(403);
        expect(res.body).toEqual(forbidden);
        expect((await events()).body.items.length).toBe(before);
      },
    );

    it('refuses a transfer out of an account named in capitals by another owner', async () => {
      const res = await t.http
        .post('/transfers')
        .set('x-owner-id', 'bob')
        .send({ fromAccountId: alices.toUpperCase(), toAccountId: bobs, amount: 10 });
      expect(res.status).toBe(403);
    });

    it('refuses a caller with no identity', async () => {
      expect((await t.http.get(`/accounts/${alices}`).expect(403)).body).toEqual(forbidden);
    });

    it("refuses to open or list accounts in another owner's name", async () => {
      await t.http
        .post('/accounts')
        .set('x-owner-id', 'bob')
        .send({ ownerId: 'alice' })
        .expect(403);
      await t.http.get('/accounts?ownerId=alice').set('x-owner-id', 'bob').expect(403);
    });

    it("refuses a transfer out of another owner's account", async () => {
      const res = await t.http
        .post('/transfers')
        .set('x-owner-id', 'bob')
        .send({ fromAccountId: alices, toAccountId: bobs, amount: 10 });
      expect(res.status).toBe(403);
    });

    it('shows a transfer to the owners of both accounts, and to no one else', async () => {
      const { body } = await t.http
        .post('/transfers')
        .set('x-owner-id', 'alice')
        .send({ fromAccountId: alices, toAccountId: bobs, amount: 10 })
        .expect(202);
      const asAlice = t.http.get(`/transfers/${body.transferId}`).set('x-owner-id', 'alice');
      await asAlice.expect(200);
      await t.http.get(`/transfers/${body.transferId}`).set('x-owner-id', 'bob').expect(200);
      await t.http.get(`/transfers/${body.transferId}`).set('x-owner-id', 'carol').expect(403);
    });

    it('still answers 404 and 400 as usual', async () => {
      await t.http
        .get('/accounts/6b0fd1a2-58a8-4d4e-9d3e-0d5d2f0c1a99')
        .set('x-owner-id', 'bob')
        .expect(404);
      await t.http.get('/accounts/not-a-uuid').set('x-owner-id', 'bob').expect(400);
    });
  });

  describe('when the host does not', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp();
    });
    afterAll(() => t.close());

    it('does not check owners', async () => {
      const alices = await openAccount(t.http, { ownerId: 'alice', initialDeposit: 10 });
      const bobs = await openAccount(t.http, { ownerId: 'bob' });
      await t.http.get(`/accounts/${alices}`).set('x-owner-id', 'bob').expect(200);
      const { body } = await t.http
        .post('/transfers')
        .send({ fromAccountId: alices, toAccountId: bobs, amount: 5 })
        .expect(202);
      expect((await waitForTransfer(t.http, body.transferId)).status).toBe('completed');
    });
  });
});
