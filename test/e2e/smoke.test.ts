import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../support/app.js';

describe('smoke', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('opens an account and reads it back', async () => {
    const opened = await t.http
      .post('/accounts')
      .send({ ownerId: 'o', initialDeposit: 5 })
      .expect(201);
    const read = await t.http
      .get(`/accounts/${opened.body.accountId}?minPosition=${opened.body.position}`)
      .expect(200);
    expect(read.body.balance).toBe(5);
  });
});
