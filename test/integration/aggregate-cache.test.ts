import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Account } from '../../src/accounts/domain/account.aggregate.js';
import { AggregateRepository } from '../../src/event-sourcing/index.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { balanceOf, openAccount } from '../support/http.js';

// Each instance keeps the accounts it wrote in memory (aggregateCacheSize). Here the other
// instance writes behind its back: a command decided on the stale state must end as if the
// state had been read from the store.
describe('the aggregate cache with two app instances on one database', () => {
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

  it('does not refuse a withdrawal that the stale state could not cover', async () => {
    const id = await openAccount(one.http, { initialDeposit: 100 });
    await two.http.post(`/accounts/${id}/deposits`).send({ amount: 500 }).expect(201);
    const res = await one.http.post(`/accounts/${id}/withdrawals`).send({ amount: 550 });
    expect(res.status).toBe(201);
    expect(res.body.version).toBe(2);
    expect(await balanceOf(one.http, id)).toBe(50);
  });

  it('appends a deposit after the events of the other instance, losing none', async () => {
    const id = await openAccount(one.http, { initialDeposit: 10 });
    await one.http.post(`/accounts/${id}/deposits`).send({ amount: 1 }).expect(201);
    await two.http.post(`/accounts/${id}/deposits`).send({ amount: 20 }).expect(201);
    const res = await one.http.post(`/accounts/${id}/deposits`).send({ amount: 300 }).expect(201);
    expect(res.body.version).toBe(3);
    expect(await balanceOf(two.http, id)).toBe(331);
  });

  it('accepts the expectedVersion of the store, not of the cache', async () => {
    const id = await openAccount(one.http, { initialDeposit: 10 });
    await two.http.post(`/accounts/${id}/deposits`).send({ amount: 5 }).expect(201);
    await one.http
      .post(`/accounts/${id}/deposits`)
      .send({ amount: 7, expectedVersion: 1 })
      .expect(201);
    const stale = await one.http
      .post(`/accounts/${id}/deposits`)
      .send({ amount: 7, expectedVersion: 1 })
      .expect(409);
    expect(stale.body.code).toBe('CONCURRENCY_CONFLICT');
    expect(await balanceOf(one.http, id)).toBe(22);
  });

  it('refuses a deposit on an account the other instance closed', async () => {
    const id = await openAccount(one.http, { initialDeposit: 0 });
    await one.http.post(`/accounts/${id}/deposits`).send({ amount: 3 }).expect(201);
    await two.http.post(`/accounts/${id}/withdrawals`).send({ amount: 3 }).expect(201);
    await two.http.post(`/accounts/${id}/close`).send({}).expect(201);
    const res = await one.http.post(`/accounts/${id}/deposits`).send({ amount: 4 });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('ACCOUNT_CLOSED');
    expect(await balanceOf(one.http, id)).toBe(0);
  });
});

describe('the aggregate cache when a command runs again with the same id', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t?.close());

  it('does not keep the state of a retry, which applied the first run twice', async () => {
    const id = await openAccount(t.http, { initialDeposit: 100 });
    const repository = t.app.get(AggregateRepository);
    const commandId = randomUUID();
    const deposit = () =>
      repository.execute(Account, id, (account) => account.deposit(50), {
        metadata: { commandId, correlationId: commandId },
      });
    expect(await deposit()).toMatchObject({ version: 1 });
    expect(await deposit()).toMatchObject({ version: 1 });
    const res = await t.http.post(`/accounts/${id}/withdrawals`).send({ amount: 180 });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('INSUFFICIENT_FUNDS');
    expect(await balanceOf(t.http, id)).toBe(150);
  });
});
