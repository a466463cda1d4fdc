import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import {
  ConcurrencyError,
  EventStore,
  GlobalLogProcessor,
  type NewEvent,
} from '../../src/event-sourcing/index.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase } from '../support/database.js';
import { openAccount, waitForTransfer } from '../support/http.js';
import {
  foldAccountStreams,
  lastPositions,
  mapConcurrently,
  readAccountModels,
  readTables,
  waitUntilCaughtUp,
  waitUntilNoLag,
} from '../support/projections.js';

const ACCOUNT_SUMMARY = 'account-summary';
const ACCOUNT_STATEMENT = 'account-statement';
const TRANSFER_SUMMARY = 'transfer-summary';
const TRANSFER_SAGA = 'transfer-saga';
const ALL = [ACCOUNT_STATEMENT, ACCOUNT_SUMMARY, TRANSFER_SAGA, TRANSFER_SUMMARY];
const READ_MODELS = [ACCOUNT_SUMMARY, ACCOUNT_STATEMENT, TRANSFER_SUMMARY];

interface Item {
  name: string;
  kind: string;
  position: number;
  lag: number;
  status: string;
  error?: string;
  parked?: { position: number; error: string; attempts: number; parkedAt: string }[];
}

async function waitForAll(t: TestApp, position: number, names = ALL, timeoutMs = 20_000) {
  const processor = t.app.get(GlobalLogProcessor);
  for (const name of names) await processor.waitForPosition(name, position, timeoutMs);
}

async function listProjections(t: TestApp): Promise<Map<string, Item>> {
  const res = await t.http.get('/projections').expect(200);
  return new Map((res.body.items as Item[]).map((item) => [item.name, item]));
}

async function deposit(t: TestApp, accountId: string, amount: number): Promise<number> {
  const res = await t.http.post(`/accounts/${accountId}/deposits`).send({ amount }).expect(201);
  return res.body.position;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('projections (issue #5)', () => {
  describe('GET /projections', () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await startTestApp();
    });
    afterAll(() => t.close());

    it('lists every projection and saga with integer position and lag, lag 0 once caught up', async () => {
      const accountId = await openAccount(t.http, { ownerId: 'list', initialDeposit: 100 });
      const last = await deposit(t, accountId, 5);
      await waitForAll(t, last);

      const res = await t.http.get('/projections').expect(200);
      const items = res.body.items as Item[];
      expect(items.map((p) => p.name).sort()).toEqual(ALL);
      for (const item of items) {
        expect(Number.isInteger(item.position)).toBe(true);
        expect(Number.isInteger(item.lag)).toBe(true);
        expect(item).toMatchObject({
          kind: item.name === TRANSFER_SAGA ? 'saga' : 'read-model',
          position: last,
          lag: 0,
          status: 'running',
        });
        expect(item.parked).toBeUndefined();
      }
    });

    it('counts committed events not yet processed as lag; status stopped where processors do not run', async () => {
      const writer = await startTestApp({ eventSourcing: { runProcessors: false } });
      try {
        const accountId = await openAccount(writer.http, { ownerId: 'lag', initialDeposit: 1 });
        await deposit(writer, accountId, 2);
        await deposit(writer, accountId, 3);
        const res = await writer.http.get('/projections').expect(200);
        expect(res.body.items).toHaveLength(4);
        for (const item of res.body.items as Item[]) {
          expect(item).toMatchObject({ position: 0, lag: 3, status: 'stopped' });
        }
      } finally {
        await writer.close();
      }
    });
  });

  describe('POST /projections/:name/rebuild', () => {
    let t: TestApp;
    let dataSource: DataSource;
    const accounts: Record<'a' | 'b' | 'c' | 'd', string> = { a: '', b: '', c: '', d: '' };

    beforeAll(async () => {
      t = await startTestApp();
      dataSource = t.app.get(DataSource);
      accounts.a = await openAccount(t.http, { ownerId: 'rebuild', initialDeposit: 1_000 });
      accounts.b = await openAccount(t.http, { ownerId: 'rebuild' });
      accounts.c = await openAccount(t.http, { ownerId: 'rebuild-2', initialDeposit: 50 });
      accounts.d = await openAccount(t.http, {
        ownerId: 'rebuild-2',
        initialDeposit: 70,
        currency: 'EUR',
      });
      await deposit(t, accounts.a, 250);
      await deposit(t, accounts.c, 7);
      await t.http.post(`/accounts/${accounts.a}/withdrawals`).send({ amount: 120 }).expect(201);
      // b: a deposit, all of it withdrawn, then closed.
      await deposit(t, accounts.b, 300);
      await t.http.post(`/accounts/${accounts.b}/withdrawals`).send({ amount: 300 }).expect(201);
      await t.http.post(`/accounts/${accounts.b}/close`).send({}).expect(201);
      // One transfer that completes, one that fails for short funds.
      const ok = await t.http
        .post('/transfers')
        .send({ fromAccountId: accounts.a, toAccountId: accounts.c, amount: 400 })
        .expect(202);
      const short = await t.http
        .post('/transfers')
        .send({ fromAccountId: accounts.c, toAccountId: accounts.a, amount: 1_000_000 })
        .expect(202);
      expect(await waitForTransfer(t.http, ok.body.transferId)).toMatchObject({
        status: 'completed',
      });
      expect(await waitForTransfer(t.http, short.body.transferId)).toMatchObject({
        status: 'failed',
      });
      await waitUntilNoLag(t.app.get(GlobalLogProcessor), ALL);
    });
    afterAll(() => t.close());

    it('answers 202 and replays the log into the same read tables as the live projections', async () => {
      const before = await readTables(dataSource);
      expect(before.summaries).toHaveLength(4);
      expect(before.lines.length).toBeGreaterThanOrEqual(10);
      expect(before.transfers).toHaveLength(2);
      // The live tables are the fold of the streams.
      expect(await readAccountModels(dataSource)).toEqual(await foldAccountStreams(dataSource));

      // Damage the read tables, as a rebuild is for: it must put them back from the log alone.
      await dataSource.query(`UPDATE account_summaries SET balance = balance + 1, version = 99`);
      await dataSource.query(
        `INSERT INTO statement_lines (account_id, version, type, amount, balance_after, occurred_at)
         VALUES ($1, 999, 'credit', 1, 1, now())`,
        [accounts.d],
      );
      await dataSource.query(`UPDATE transfer_summaries SET status = 'pending'`);

      const processor = t.app.get(GlobalLogProcessor);
      const positionBefore = new Map((await processor.list()).map((p) => [p.name, p.position]));
      for (const name of READ_MODELS) {
        const res = await t.http.post(`/projections/${name}/rebuild`).expect(202);
        expect(res.body).toMatchObject({ name });
      }
      const list = await waitUntilCaughtUp(processor, READ_MODELS);
      for (const name of READ_MODELS) {
        expect(list.find((p) => p.name === name)).toMatchObject({
          position: positionBefore.get(name),
          lag: 0,
          status: 'running',
        });
      }

      const after = await readTables(dataSource);
      expect(after.summaries).toEqual(before.summaries);
      expect(after.lines).toEqual(before.lines);
      expect(after.transfers).toEqual(before.transfers);
    });

    it('answers 404 PROJECTION_NOT_FOUND for an unknown name and 409 for a saga', async () => {
      const unknown = await t.http.post('/projections/no-such-projection/rebuild').expect(404);
      expect(unknown.body).toEqual({
        statusCode: 404,
        code: 'PROJECTION_NOT_FOUND',
        message: expect.any(String),
      });
      const saga = await t.http.post(`/projections/${TRANSFER_SAGA}/rebuild`).expect(409);
      expect(saga.body).toEqual({
        statusCode: 409,
        code: 'PROJECTION_NOT_REBUILDABLE',
        message: expect.any(String),
      });
      const retryUnknown = await t.http.post('/projections/no-such-projection/retry').expect(404);
      expect(retryUnknown.body.code).toBe('PROJECTION_NOT_FOUND');
    });

    it('keeps answering reads during a rebuild (200, possibly stale), with or without ?minPosition=', async () => {
      const ids = Object.values(accounts);
      const tokens = await lastPositions(dataSource, ids);
      const expected = await foldAccountStreams(dataSource);
      const balanceOf = (id: string) => expected.summaries.find((s) => s.accountId === id)!.balance;
      const linesOf = (id: string) => expected.lines.filter((l) => l.accountId === id);
      const paths = [
        ...ids.map((id) => `/accounts/${id}`),
        ...ids.map((id) => `/accounts/${id}?minPosition=${tokens.get(id)}`),
        ...ids.map((id) => `/accounts/${id}/transactions`),
        ...ids.map((id) => `/accounts/${id}/transactions?minPosition=${tokens.get(id)}`),
        '/accounts?ownerId=rebuild',
      ];
      // A few rounds: each fires both rebuilds and every read at once, then lets the replay end.
      for (let round = 0; round < 3; round++) {
        const [summaryRebuild, statementRebuild, ...reads] = await Promise.all([
          t.http.post(`/projections/${ACCOUNT_SUMMARY}/rebuild`),
          t.http.post(`/projections/${ACCOUNT_STATEMENT}/rebuild`),
          ...paths.map((path) => t.http.get(path)),
        ]);
        expect(summaryRebuild.status).toBe(202);
        expect(statementRebuild.status).toBe(202);
        expect(reads.map((r, i) => `${r.status} ${paths[i]}`)).toEqual(
          paths.map((path) => `200 ${path}`),
        );
        // Without a token any state will do; with ?minPosition= the answer includes that position.
        for (const [i, id] of ids.entries()) {
          expect(reads[i].body.accountId).toBe(id);
          expect(reads[ids.length + i].body).toMatchObject({
            accountId: id,
            balance: balanceOf(id),
          });
          expect(reads[3 * ids.length + i].body.items).toHaveLength(linesOf(id).length);
        }
        await waitUntilCaughtUp(t.app.get(GlobalLogProcessor), [
          ACCOUNT_SUMMARY,
          ACCOUNT_STATEMENT,
        ]);
      }
      expect(await readAccountModels(dataSource)).toEqual(await foldAccountStreams(dataSource));
    });

    it('honours ?minPosition= after a rebuild', async () => {
      const ids = Object.values(accounts);
      const tokens = await lastPositions(dataSource, ids);
      const expected = await foldAccountStreams(dataSource);
      const balanceOf = (id: string) => expected.summaries.find((s) => s.accountId === id)!.balance;

      // Right after a rebuild's reset, ?minPosition= waits for the replay to get there.
      await t.http.post(`/projections/${ACCOUNT_SUMMARY}/rebuild`).expect(202);
      await t.http.post(`/projections/${ACCOUNT_STATEMENT}/rebuild`).expect(202);
      for (const id of ids) {
        const res = await t.http.get(`/accounts/${id}?minPosition=${tokens.get(id)}`).expect(200);
        expect(res.body.balance).toBe(balanceOf(id));
        const lines = await t.http.get(
          `/accounts/${id}/transactions?minPosition=${tokens.get(id)}`,
        );
        expect(lines.status).toBe(200);
        expect(lines.body.items).toEqual(
          expected.lines
            .filter((l) => l.accountId === id)
            .map((l) =>
              expect.objectContaining({
                version: l.version,
                type: l.type,
                amount: l.amount,
                balanceAfter: l.balanceAfter,
              }),
            ),
        );
      }

      // And a write after the rebuild is read back through its consistency token.
      await waitUntilCaughtUp(t.app.get(GlobalLogProcessor), [ACCOUNT_SUMMARY, ACCOUNT_STATEMENT]);
      const position = await deposit(t, accounts.d, 30);
      const read = await t.http.get(`/accounts/${accounts.d}?minPosition=${position}`).expect(200);
      expect(read.body).toMatchObject({ balance: balanceOf(accounts.d) + 30 });
      const lines = await t.http
        .get(`/accounts/${accounts.d}/transactions?minPosition=${position}`)
        .expect(200);
      expect(lines.body.items.at(-1)).toMatchObject({
        type: 'credit',
        amount: 30,
        balanceAfter: balanceOf(accounts.d) + 30,
      });
      expect(await readAccountModels(dataSource)).toEqual(await foldAccountStreams(dataSource));
    });
  });

  describe('poison events', () => {
    let t: TestApp;
    let dataSource: DataSource;
    let poisoned: string;
    let healthy: string;
    let poisonPosition: number;

    /** Appends an event with plain SQL, as a script or another service might. */
    async function insertEvent(
      streamId: string,
      version: number,
      type: string,
      schemaVersion: number,
      data: Record<string, unknown>,
    ): Promise<number> {
      const [row] = await dataSource.query(
        `INSERT INTO events (stream_id, version, type, schema_version, data)
         VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING global_position::int8 AS position`,
        [streamId, version, type, schemaVersion, JSON.stringify(data)],
      );
      return Number(row.position);
    }

    beforeAll(async () => {
      t = await startTestApp({ eventSourcing: { poisonAfterAttempts: 2 } });
      dataSource = t.app.get(DataSource);
      poisoned = await openAccount(t.http, { ownerId: 'poison', initialDeposit: 100 });
      healthy = await openAccount(t.http, { ownerId: 'poison', initialDeposit: 50 });
    });
    afterAll(() => t.close());

    it('parks an event the projections cannot apply, for them only, and keeps them current', async () => {
      poisonPosition = await insertEvent(poisoned, 1, 'MoneyDeposited', 2, {
        accountId: poisoned,
        amount: 'not a number',
      });
      const position = await deposit(t, healthy, 25);

      // A later event still reaches both read models.
      const read = await t.http.get(`/accounts/${healthy}?minPosition=${position}`).expect(200);
      expect(read.body).toMatchObject({ balance: 75, version: 1 });
      const lines = await t.http
        .get(`/accounts/${healthy}/transactions?minPosition=${position}`)
        .expect(200);
      expect(lines.body.items.map((l: { balanceAfter: number }) => l.balanceAfter)).toEqual([
        50, 75,
      ]);
      // The poisoned account's read model stays as it was before the event.
      const before = await t.http.get(`/accounts/${poisoned}?minPosition=${position}`).expect(200);
      expect(before.body).toMatchObject({ balance: 100, version: 0 });

      await waitForAll(t, position);
      const projections = await listProjections(t);
      for (const name of [ACCOUNT_SUMMARY, ACCOUNT_STATEMENT]) {
        const item = projections.get(name)!;
        expect(item).toMatchObject({ position, lag: 0, status: 'running' });
        expect(item.parked).toEqual([
          {
            position: poisonPosition,
            error: expect.any(String),
            attempts: expect.any(Number),
            parkedAt: expect.any(String),
          },
        ]);
        const [parked] = item.parked!;
        expect(parked.error.length).toBeGreaterThan(0);
        expect(parked.attempts).toBeGreaterThanOrEqual(2);
        expect(Number.isNaN(Date.parse(parked.parkedAt))).toBe(false);
      }
      // Projections without a handler for the event are not held up by it.
      for (const name of [TRANSFER_SUMMARY, TRANSFER_SAGA]) {
        expect(projections.get(name)).toMatchObject({ position, lag: 0, status: 'running' });
        expect(projections.get(name)!.parked).toBeUndefined();
      }
    });

    it('parks an unknown event type (everywhere) and a schema version newer than the code', async () => {
      const unknown = await insertEvent(randomUUID(), 0, 'AccountFrozen', 1, {
        accountId: healthy,
      });
      const newer = await insertEvent(randomUUID(), 0, 'MoneyDeposited', 9, {
        accountId: healthy,
        amount: 5,
      });
      const position = await deposit(t, healthy, 10);
      await t.http.get(`/accounts/${healthy}?minPosition=${position}`).expect(200);
      await waitForAll(t, position);

      const projections = await listProjections(t);
      const parkedAt = (name: string) =>
        (projections.get(name)!.parked ?? []).map((p) => p.position);
      expect(parkedAt(ACCOUNT_SUMMARY)).toEqual([poisonPosition, unknown, newer]);
      expect(parkedAt(ACCOUNT_STATEMENT)).toEqual([poisonPosition, unknown, newer]);
      expect(parkedAt(TRANSFER_SUMMARY)).toEqual([unknown]);
      expect(parkedAt(TRANSFER_SAGA)).toEqual([unknown]);
      for (const name of ALL) {
        expect(projections.get(name)).toMatchObject({ position, lag: 0, status: 'running' });
      }
      const read = await t.http.get(`/accounts/${healthy}?minPosition=${position}`).expect(200);
      expect(read.body).toMatchObject({ balance: 85, version: 2 });
    });

    it('retry answers 200 {retried, failed}; an event that applies now leaves the parked list', async () => {
      const still = await t.http.post(`/projections/${ACCOUNT_SUMMARY}/retry`).expect(200);
      const parkedSummary = (await listProjections(t)).get(ACCOUNT_SUMMARY)!.parked!;
      expect(still.body).toEqual({ retried: 0, failed: parkedSummary.length });
      expect(parkedSummary.length).toBeGreaterThan(0);

      // Make the statement projection refuse one deposit for a while (a table constraint), so it
      // is parked; once the constraint is gone a retry applies it.
      const parkedBefore = (await listProjections(t)).get(ACCOUNT_STATEMENT)!.parked!.length;
      await dataSource.query(
        `ALTER TABLE statement_lines ADD CONSTRAINT test_refuses_4242 CHECK (amount <> 4242)`,
      );
      let blocked: number;
      try {
        blocked = await deposit(t, healthy, 4242);
        await waitForAll(t, blocked, [ACCOUNT_STATEMENT, ACCOUNT_SUMMARY]);
      } finally {
        await dataSource.query(`ALTER TABLE statement_lines DROP CONSTRAINT test_refuses_4242`);
      }
      const parked = (await listProjections(t)).get(ACCOUNT_STATEMENT)!.parked!;
      expect(parked.map((p) => p.position)).toContain(blocked);
      expect(parked).toHaveLength(parkedBefore + 1);
      const summary = await t.http.get(`/accounts/${healthy}?minPosition=${blocked}`).expect(200);
      expect(summary.body).toMatchObject({ balance: 85 + 4242 });

      const retry = await t.http.post(`/projections/${ACCOUNT_STATEMENT}/retry`).expect(200);
      expect(retry.body).toEqual({ retried: 1, failed: parkedBefore });
      const after = (await listProjections(t)).get(ACCOUNT_STATEMENT)!.parked!;
      expect(after.map((p) => p.position)).not.toContain(blocked);
      expect(after).toHaveLength(parkedBefore);
      const lines = await t.http.get(`/accounts/${healthy}/transactions`).expect(200);
      expect(lines.body.items.at(-1)).toMatchObject({
        type: 'credit',
        amount: 4242,
        balanceAfter: 85 + 4242,
      });
    });
    it('a retried event parked before later events of its stream still gives the fold of the stream', async () => {
      const account = await openAccount(t.http, { ownerId: 'poison', initialDeposit: 1_000 });
      const before = await listProjections(t);
      const parkedBefore = (name: string) => before.get(name)!.parked?.length ?? 0;
      // Both read models refuse one deposit for a while: it is parked, a later deposit is applied.
      await dataSource.query(
        `ALTER TABLE account_summaries ADD CONSTRAINT test_refuses_1777 CHECK (balance <> 1777)`,
      );
      await dataSource.query(
        `ALTER TABLE statement_lines ADD CONSTRAINT test_refuses_777 CHECK (amount <> 777)`,
      );
      try {
        await waitForAll(t, await deposit(t, account, 777), [ACCOUNT_SUMMARY, ACCOUNT_STATEMENT]);
      } finally {
        await dataSource.query(`ALTER TABLE account_summaries DROP CONSTRAINT test_refuses_1777`);
        await dataSource.query(`ALTER TABLE statement_lines DROP CONSTRAINT test_refuses_777`);
      }
      const later = await deposit(t, account, 5);
      await waitForAll(t, later, [ACCOUNT_SUMMARY, ACCOUNT_STATEMENT]);

      for (const name of [ACCOUNT_SUMMARY, ACCOUNT_STATEMENT]) {
        const res = await t.http.post(`/projections/${name}/retry`).expect(200);
        // The later deposit waited behind the parked one (same stream): both are retried, in order.
        expect(res.body).toEqual({ retried: 2, failed: parkedBefore(name) });
      }
      const state = await t.http.get(`/accounts/${account}/state`).expect(200);
      expect(state.body).toMatchObject({ balance: 1_782, version: 2 });
      const summary = await t.http.get(`/accounts/${account}?minPosition=${later}`).expect(200);
      const lines = await t.http
        .get(`/accounts/${account}/transactions?minPosition=${later}`)
        .expect(200);
      expect({
        balance: summary.body.balance,
        version: summary.body.version,
        lines: lines.body.items.map((l: { version: number; balanceAfter: number }) => [
          l.version,
          l.balanceAfter,
        ]),
      }).toEqual({
        balance: 1_782,
        version: 2,
        lines: [
          [0, 1_000],
          [1, 1_777],
          [2, 1_782],
        ],
      });
    });
  });

  describe('two processors racing for each projection', () => {
    let one: TestApp;
    let two: TestApp;
    let writer: TestApp | undefined;

    beforeAll(async () => {
      one = await startTestApp();
      two = await startTestApp({ databaseUrl: one.databaseUrl });
    });
    afterAll(async () => {
      await writer?.close();
      await two.close();
      await one.close().catch(() => undefined);
    });

    it('applies every event once in effect, and the survivor takes over when one stops', async () => {
      const apps = [one, two];
      const accounts = await mapConcurrently(range(50), 10, (i) =>
        openAccount(apps[i % 2].http, { ownerId: 'race', initialDeposit: i }),
      );
      const sent = new Map(accounts.map((id, i) => [id, i]));
      const deposits = range(2_000).map((k) => ({
        accountId: accounts[k % 50],
        amount: 1 + (k % 97),
        via: apps[(k >> 1) % 2],
      }));
      const positions = await mapConcurrently(deposits, 32, async (d) => {
        const position = await deposit(d.via, d.accountId, d.amount);
        sent.set(d.accountId, sent.get(d.accountId)! + d.amount);
        return position;
      });
      expect(positions).toHaveLength(2_000);
      await waitUntilNoLag(one.app.get(GlobalLogProcessor), [ACCOUNT_SUMMARY, ACCOUNT_STATEMENT]);

      const dataSource = one.app.get(DataSource);
      const expected = await foldAccountStreams(dataSource);
      // The log holds exactly what was sent...
      expect(new Map(expected.summaries.map((s) => [s.accountId, s.balance]))).toEqual(sent);
      expect(expected.summaries.every((s) => s.version === 40)).toBe(true);
      expect(expected.lines).toHaveLength(2_000 + 49);
      // ...and the read models are its fold: one statement line per money event, none twice.
      expect(await readAccountModels(dataSource)).toEqual(expected);

      // One instance stops; events appended by a third process (no processors) reach the other.
      await one.close();
      writer = await startTestApp({
        databaseUrl: one.databaseUrl,
        eventSourcing: { runProcessors: false },
      });
      const more = await mapConcurrently(accounts, 10, async (accountId) => {
        const position = await deposit(writer!, accountId, 1_000);
        sent.set(accountId, sent.get(accountId)! + 1_000);
        return position;
      });
      for (const [i, accountId] of accounts.entries()) {
        const res = await two.http.get(`/accounts/${accountId}?minPosition=${more[i]}`).expect(200);
        expect(res.body).toMatchObject({ balance: sent.get(accountId), version: 41 });
      }
      await waitUntilNoLag(two.app.get(GlobalLogProcessor), [ACCOUNT_SUMMARY, ACCOUNT_STATEMENT]);
      const survivor = two.app.get(DataSource);
      expect(await readAccountModels(survivor)).toEqual(await foldAccountStreams(survivor));
    }, 120_000);
  });

  describe('a rebuild while two instances write and process', () => {
    let one: TestApp;
    let two: TestApp;

    beforeAll(async () => {
      one = await startTestApp();
      two = await startTestApp({ databaseUrl: one.databaseUrl });
    });
    afterAll(async () => {
      await two.close();
      await one.close();
    });

    it('converges to the fold of the streams', async () => {
      const apps = [one, two];
      const accounts = await mapConcurrently(range(20), 10, (i) =>
        openAccount(apps[i % 2].http, { ownerId: 'rebuild-load', initialDeposit: 10 * i }),
      );
      let done = 0;
      const positions = await mapConcurrently(range(600), 16, async (k) => {
        if (k === 200) {
          await one.http.post(`/projections/${ACCOUNT_SUMMARY}/rebuild`).expect(202);
          await two.http.post(`/projections/${ACCOUNT_STATEMENT}/rebuild`).expect(202);
        }
        const position = await deposit(apps[k % 2], accounts[k % 20], 1 + (k % 13));
        done += 1;
        return position;
      });
      expect(done).toBe(600);
      expect(positions).toHaveLength(600);
      await waitUntilNoLag(two.app.get(GlobalLogProcessor), [ACCOUNT_SUMMARY, ACCOUNT_STATEMENT]);
      const dataSource = one.app.get(DataSource);
      const expected = await foldAccountStreams(dataSource);
      expect(expected.lines).toHaveLength(600 + 19);
      expect(await readAccountModels(dataSource)).toEqual(expected);
    }, 60_000);
  });

  describe('10,000 events from 8 concurrent writers', () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await startTestApp({ databaseUrl: await createTestDatabase() });
    });
    afterAll(() => t.close());

    it('keeps every account summary equal to the fold of its stream', async () => {
      const store = t.app.get(EventStore);
      const streams = range(200).map(() => randomUUID());
      const writers = 8;
      const opened = (accountId: string, i: number): NewEvent => ({
        type: 'AccountOpened',
        schemaVersion: 2,
        data: { accountId, ownerId: `writers-${i % 7}`, currency: 'USD', initialDeposit: i * 3 },
      });
      const deposited = (accountId: string, amount: number): NewEvent => ({
        type: 'MoneyDeposited',
        schemaVersion: 2,
        data: { accountId, amount },
      });

      // Each writer opens its share of the streams (expected: no stream yet)...
      let positions = (
        await Promise.all(
          range(writers).map(async (w) => {
            const mine: number[] = [];
            for (let s = w; s < streams.length; s += writers) {
              const { position } = await store.append(streams[s], [opened(streams[s], s)], -1);
              mine.push(position);
            }
            return mine;
          }),
        )
      ).flat();

      // ...then all of them append deposits to every stream: batches of 1 to 4 events, even
      // writers with expected version 'any', odd ones with the exact version (retried on a race).
      const perWriter = (10_000 - streams.length) / writers;
      const deposits = await Promise.all(
        range(writers).map(async (w) => {
          const mine: number[] = [];
          let left = perWriter;
          for (let k = 0; left > 0; k++) {
            const streamId = streams[(k * 37 + w * 11) % streams.length];
            const count = Math.min(left, 1 + ((k + w) % 4));
            const events = range(count).map((j) => deposited(streamId, 1 + ((k + j + w) % 50)));
            for (let attempt = 0; ; attempt++) {
              const expected = w % 2 === 0 ? 'any' : await store.streamVersion(streamId);
              try {
                mine.push((await store.append(streamId, events, expected)).position);
                break;
              } catch (error) {
                if (!(error instanceof ConcurrencyError) || attempt > 50) throw error;
              }
            }
            left -= count;
          }
          return mine;
        }),
      );
      positions = positions.concat(deposits.flat());

      const dataSource = t.app.get(DataSource);
      const [{ n }] = await dataSource.query(`SELECT count(*)::int AS n FROM events`);
      expect(n).toBe(10_000);
      expect(positions).toHaveLength(streams.length + deposits.flat().length);
      const projections = await waitUntilNoLag(t.app.get(GlobalLogProcessor), ALL);
      for (const p of projections) expect(positions).toContain(p.position);

      const expected = await foldAccountStreams(dataSource);
      expect(expected.summaries).toHaveLength(200);
      const actual = await readAccountModels(dataSource);
      expect(actual.summaries).toEqual(expected.summaries);
      expect(actual.lines).toEqual(expected.lines);
    }, 120_000);
  });
});
