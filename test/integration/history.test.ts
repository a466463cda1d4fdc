import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { DataSource } from 'typeorm';
import { v4 as uuidv4 } from 'uuid';
import { Account } from '../../src/accounts/domain/account.aggregate.js';
import { AggregateRepository, EventStore, type NewEvent } from '../../src/event-sourcing/index.js';
import { startTestApp, type TestApp } from '../support/app.js';

const SNAPSHOT_EVERY = 50;

describe('history', () => {
  let t: TestApp;
  let dataSource: DataSource;
  let repository: AggregateRepository;
  let store: EventStore;

  beforeAll(async () => {
    t = await startTestApp();
    dataSource = t.app.get(DataSource);
    repository = t.app.get(AggregateRepository);
    store = t.app.get(EventStore);
  });
  afterAll(() => t.close());

  describe('events written by the original design (schema v1)', () => {
    const id = uuidv4();
    let lastPosition = 0;

    beforeAll(async () => {
      const rows: [string, number, Record<string, unknown>][] = [
        ['AccountOpened', 0, { accountId: id, ownerId: 'legacy-owner', initialDeposit: 10.5 }],
        ['MoneyDeposited', 1, { accountId: id, amount: 2.25 }],
        ['MoneyWithdrawn', 2, { accountId: id, amount: 1.75 }],
      ];
      for (const [type, version, data] of rows) {
        const [row] = await dataSource.query(
          `INSERT INTO events (stream_id, version, type, schema_version, data, recorded_at)
           VALUES ($1, $2, $3, 1, $4, $5) RETURNING global_position`,
          [
            id,
            version,
            type,
            { ...data, timestamp: `2019-05-0${version + 1}T10:00:00Z` },
            `2019-05-0${version + 1}T10:00:00Z`,
          ],
        );
        lastPosition = Number(row.global_position);
      }
    });

    it('shows upcast values in the account read model', async () => {
      const { body } = await t.http.get(`/accounts/${id}?minPosition=${lastPosition}`).expect(200);
      expect(body).toMatchObject({
        accountId: id,
        ownerId: 'legacy-owner',
        currency: 'USD',
        balance: 1100,
        version: 2,
      });
      expect(body.openedAt).toBe('2019-05-01T10:00:00.000Z');
    });

    it('shows upcast values in the statement', async () => {
      const { body } = await t.http
        .get(`/accounts/${id}/transactions?minPosition=${lastPosition}`)
        .expect(200);
      expect(
        body.items.map((l: { amount: number; balanceAfter: number }) => [l.amount, l.balanceAfter]),
      ).toEqual([
        [1050, 1050],
        [225, 1275],
        [175, 1100],
      ]);
    });

    it('shows the audit trail in the current schema', async () => {
      const { body } = await t.http.get(`/accounts/${id}/events`).expect(200);
      expect(body.items[0]).toMatchObject({
        type: 'AccountOpened',
        schemaVersion: 2,
        data: { accountId: id, ownerId: 'legacy-owner', currency: 'USD', initialDeposit: 1050 },
        recordedAt: '2019-05-01T10:00:00.000Z',
      });
      expect(body.items[0].data).not.toHaveProperty('timestamp');
    });

    it('answers temporal queries in upcast values', async () => {
      expect((await t.http.get(`/accounts/${id}/state?version=1`).expect(200)).body).toEqual({
        accountId: id,
        balance: 1275,
        status: 'open',
        version: 1,
      });
      const asOf = await t.http
        .get(`/accounts/${id}/state?asOf=2019-05-02T23:59:59.999Z`)
        .expect(200);
      expect(asOf.body).toMatchObject({ balance: 1275, version: 1 });
      await t.http.get(`/accounts/${id}/state?asOf=2019-04-30T00:00:00Z`).expect(404);
    });

    it('reads asOf against recordedAt as shown, for events a script stored in microseconds', async () => {
      const other = uuidv4();
      for (const [version, type, data, at] of [
        [
          0,
          'AccountOpened',
          { accountId: other, ownerId: 'script', currency: 'USD', initialDeposit: 7 },
          '2020-01-01T00:00:00.123456Z',
        ],
        [1, 'MoneyDeposited', { accountId: other, amount: 3 }, '2020-01-01T00:00:00.123999Z'],
        [2, 'MoneyDeposited', { accountId: other, amount: 5 }, '2020-01-01T00:00:00.124001Z'],
      ] as const) {
        await dataSource.query(
          `INSERT INTO events (stream_id, version, type, schema_version, data, recorded_at)
           VALUES ($1, $2, $3, 2, $4, $5)`,
          [other, version, type, data, at],
        );
      }
      const { body: trail } = await t.http.get(`/accounts/${other}/events`).expect(200);
      expect(trail.items.map((e: { recordedAt: string }) => e.recordedAt)).toEqual([
        '2020-01-01T00:00:00.123Z',
        '2020-01-01T00:00:00.123Z',
        '2020-01-01T00:00:00.124Z',
      ]);
      // Both events shown at .123 are <= .123, as shown: asOf includes them, and not the third.
      const state = async (asOf: string) =>
        (await t.http.get(`/accounts/${other}/state?asOf=${asOf}`).expect(200)).body;
      expect(await state('2020-01-01T00:00:00.123Z')).toMatchObject({ balance: 10, version: 1 });
      expect(await state('2020-01-01T00:00:00.1239Z')).toMatchObject({ balance: 10, version: 1 });
      expect(await state('2020-01-01T00:00:00.124Z')).toMatchObject({ balance: 15, version: 2 });
      await t.http.get(`/accounts/${other}/state?asOf=2020-01-01T00:00:00.122Z`).expect(404);
    });

    it('appends a new command after them at the right version, in schema v2', async () => {
      const { body } = await t.http
        .post(`/accounts/${id}/deposits`)
        .send({ amount: 5 })
        .expect(201);
      expect(body.version).toBe(3);
      const [stored] = await store.readStream(id, { fromVersion: 3 });
      expect(stored).toMatchObject({ schemaVersion: 2, data: { accountId: id, amount: 5 } });
      const { body: account } = await t.http
        .get(`/accounts/${id}?minPosition=${body.position}`)
        .expect(200);
      expect(account.balance).toBe(1105);
    });
  });

  describe('snapshots', () => {
    const deposits = (n: number): NewEvent[] =>
      Array.from({ length: n }, () => ({
        type: 'MoneyDeposited',
        schemaVersion: 2,
        data: { accountId: '', amount: 1 },
      }));

    async function longAccount(events: number): Promise<string> {
      const id = uuidv4();
      await store.append(
        id,
        [
          {
            type: 'AccountOpened',
            schemaVersion: 2,
            data: { accountId: id, ownerId: 'long', currency: 'USD', initialDeposit: 0 },
          },
        ],
        'no_stream',
      );
      for (let done = 1; done < events; done += 1000) {
        const batch = deposits(Math.min(1000, events - done)).map((e) => ({
          ...e,
          data: { accountId: id, amount: 1 },
        }));
        await store.append(id, batch, 'any');
      }
      return id;
    }

    it(`loads a stream of 10,000 events reading at most ${SNAPSHOT_EVERY} events after the snapshot`, async () => {
      // 9,999 events appended directly; the 10,000th comes from a command, which takes the snapshot.
      const id = await longAccount(9_999);
      const readStream = jest.spyOn(store, 'readStream');
      try {
        const full = await repository.load(Account, id);
        expect(full.version).toBe(9_998);
        const rowsRead = async () => (await readStream.mock.results.at(-1)!.value) as unknown[];
        expect(await rowsRead()).toHaveLength(9_999);

        await t.http.post(`/accounts/${id}/deposits`).send({ amount: 1 }).expect(201);
        await repository.flushSnapshots();
        const fast = await repository.load(Account, id);
        expect(fast.version).toBe(9_999);
        expect(fast.balance.minor).toBe(9_999);
        expect((await rowsRead()).length).toBeLessThanOrEqual(SNAPSHOT_EVERY);
      } finally {
        readStream.mockRestore();
      }
    });

    it('ignores a snapshot of another revision and one it cannot read', async () => {
      const id = await longAccount(120);
      await dataSource.query(
        `INSERT INTO snapshots (stream_id, version, position, revision, state) VALUES ($1, 100, 0, 0, $2), ($1, 110, 0, 1, $3)`,
        [
          id,
          { ownerId: 'long', currency: 'USD', balance: 999_999, status: 'open', transferSteps: [] },
          { nonsense: true },
        ],
      );
      const account = await repository.load(Account, id);
      expect(account.balance.minor).toBe(119);
      expect(account.version).toBe(119);
    });

    it('uses for a temporal query only a snapshot at or below the version asked for', async () => {
      const id = await longAccount(160);
      await dataSource.query(
        `INSERT INTO snapshots (stream_id, version, position, revision, state) VALUES ($1, 150, 0, 1, $2)`,
        // A marked balance shows whether the snapshot was used (the real balance at 150 is 150).
        [
          id,
          {
            ownerId: 'long',
            currency: 'USD',
            balance: 1_000_150,
            status: 'open',
            transferSteps: [],
          },
        ],
      );
      expect((await repository.loadAt(Account, id, { version: 120 })).balance.minor).toBe(120);
      expect((await repository.loadAt(Account, id, { version: 155 })).balance.minor).toBe(
        1_000_155,
      );
      const { body } = await t.http.get(`/accounts/${id}/state?version=200`).expect(404);
      expect(body.code).toBe('VERSION_NOT_FOUND');
    });
  });
});
