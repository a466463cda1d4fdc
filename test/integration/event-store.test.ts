import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import pg from 'pg';
import { DataSource, type QueryRunner } from 'typeorm';
import { v4 as uuidv4 } from 'uuid';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import {
  ConcurrencyError,
  EventStore,
  LOG_START,
  type JsonObject,
  type LogCheckpoint,
  type NewEvent,
  TransactionOrderError,
} from '../../src/event-sourcing/index.js';
import { createTestDatabase } from '../support/database.js';

const event = (n: number, eventId?: string): NewEvent => ({
  eventId,
  type: 'Happened',
  schemaVersion: 1,
  data: { n },
  metadata: { correlationId: 'c-1' },
});

describe('EventStore', () => {
  let url: string;
  let dataSource: DataSource;
  let store: EventStore;

  beforeAll(async () => {
    url = await createTestDatabase();
    const options = dataSourceOptions(url);
    dataSource = await new DataSource({
      ...options,
      extra: { max: 60 },
    } as typeof options).initialize();
    store = new EventStore(dataSource);
  });
  afterAll(() => dataSource.destroy());

  describe('append', () => {
    it('numbers a new stream from version 0 and reads it back in order', async () => {
      const stream = uuidv4();
      const first = await store.append(stream, [event(1), event(2)], 'no_stream');
      const second = await store.append(stream, [event(3)], 1);
      expect(first.version).toBe(1);
      expect(second.version).toBe(2);
      expect(second.position).toBeGreaterThan(first.position);
      const read = await store.readStream(stream);
      expect(read.map((e) => [e.version, e.data.n])).toEqual([
        [0, 1],
        [1, 2],
        [2, 3],
      ]);
      expect(read[0].metadata).toEqual({ correlationId: 'c-1' });
      expect(read[0].recordedAt).toBeInstanceOf(Date);
      // The append answers with the events as stored, in the order given.
      expect([...first.events, ...second.events]).toEqual(read);
    });

    it('reads recorded_at as the driver reads a timestamptz, microseconds cut', async () => {
      // Written by a script, with microseconds and an offset; before 1970 too.
      const stream = uuidv4();
      const times = [
        '2026-11-27 17:46:35.123999+00',
        '2026-03-29 01:30:00.5+02',
        '1969-12-31 23:59:59.9995+00',
        '0001-01-01 00:00:00.999999+00',
      ];
      await dataSource.query(
        `INSERT INTO events (stream_id, version, type, recorded_at)
         SELECT $1, i - 1, 'Happened', t FROM unnest($2::timestamptz[]) WITH ORDINALITY AS x(t, i)`,
        [stream, times],
      );
      const driver: { t: Date }[] = await dataSource.query(
        `SELECT recorded_at AS t FROM events WHERE stream_id = $1 ORDER BY version`,
        [stream],
      );
      const read = await store.readStream(stream);
      expect(read.map((e) => e.recordedAt.toISOString())).toEqual(
        driver.map((r) => r.t.toISOString()),
      );
      expect(read[0].recordedAt.toISOString()).toBe('2026-11-27T17:46:35.123Z');
    });

    it('stores data and metadata exactly, whatever characters their strings hold', async () => {
      const stream = uuidv4();
      const tricky = 'quote " backslash \\ \\" brace {} comma , newline \n tab \t NULL é 漢 🙂';
      const data = { s: tricky, nested: { list: [tricky, 1.5, null, true, { '': 'empty key' }] } };
      const metadata = { correlationId: '{"a":1}', causationId: 'back\\slash' };
      const events = [
        { type: 'Happened', schemaVersion: 1, data, metadata },
        { type: 'Happened', schemaVersion: 1, data: {}, metadata: {} },
      ];
      await store.append(stream, events, 'no_stream');
      const read = await store.readStream(stream);
      expect(read.map((e) => [e.data, e.metadata])).toEqual([
        [data, metadata],
        [{}, {}],
      ]);
    });

    it('reads a version range', async () => {
      const stream = uuidv4();
      await store.append(stream, [event(0), event(1), event(2), event(3)], 'no_stream');
      const read = await store.readStream(stream, { fromVersion: 1, toVersion: 2 });
      expect(read.map((e) => e.version)).toEqual([1, 2]);
    });

    it('lets exactly one of 50 concurrent writers at the same expected version win', async () => {
      const stream = uuidv4();
      await store.append(stream, [event(0)], 'no_stream');
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) => store.append(stream, [event(i)], 0)),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(49);
      for (const r of lost) expect(r.reason).toBeInstanceOf(ConcurrencyError);
      expect(await store.streamVersion(stream)).toBe(1);
    });

    it('stores everything 100 writers on distinct streams append, with versions contiguous from 0', async () => {
      const streams = Array.from({ length: 100 }, () => uuidv4());
      await Promise.all(
        streams.map(async (stream) => {
          for (let v = -1; v < 4; v++)
            await store.append(stream, [event(v + 1)], v === -1 ? 'no_stream' : v);
        }),
      );
      for (const stream of streams) {
        expect((await store.readStream(stream)).map((e) => e.version)).toEqual([0, 1, 2, 3, 4]);
      }
    });

    it('never stores an event id twice: a retried append returns the stored events', async () => {
      const stream = uuidv4();
      const ids = [uuidv4(), uuidv4()];
      const first = await store.append(stream, [event(1, ids[0]), event(2, ids[1])], 'no_stream');
      const retry = await store.append(stream, [event(1, ids[0]), event(2, ids[1])], 'no_stream');
      expect(retry.position).toBe(first.position);
      expect(retry.version).toBe(1);
      expect(await store.readStream(stream)).toHaveLength(2);
    });

    it('refuses an event id stored in another stream', async () => {
      const id = uuidv4();
      await store.append(uuidv4(), [event(1, id)], 'no_stream');
      await expect(store.append(uuidv4(), [event(1, id)], 'no_stream')).rejects.toBeInstanceOf(
        ConcurrencyError,
      );
    });

    it('checks no_stream, stream_exists and exact versions', async () => {
      const stream = uuidv4();
      await expect(store.append(stream, [event(1)], 'stream_exists')).rejects.toBeInstanceOf(
        ConcurrencyError,
      );
      await expect(store.append(stream, [event(1)], 0)).rejects.toBeInstanceOf(ConcurrencyError);
      await store.append(stream, [event(1)], 'no_stream');
      await expect(store.append(stream, [event(2)], 'no_stream')).rejects.toBeInstanceOf(
        ConcurrencyError,
      );
      await expect(store.append(stream, [event(2)], 5)).rejects.toMatchObject({
        actual: 0,
        code: 'CONCURRENCY_CONFLICT',
      });
      expect((await store.append(stream, [event(2)], 'stream_exists')).version).toBe(1);
    });

    it('appends every concurrent "any" write, one after the other', async () => {
      const stream = uuidv4();
      await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.append(stream, [event(i)], 'any')),
      );
      expect((await store.readStream(stream)).map((e) => e.version)).toEqual(
        Array.from({ length: 50 }, (_, i) => i),
      );
    });

    it('keeps events append-only', async () => {
      const stream = uuidv4();
      await store.append(stream, [event(1)], 'no_stream');
      await expect(
        dataSource.query('UPDATE events SET data = $2 WHERE stream_id = $1', [stream, '{}']),
      ).rejects.toThrow(/append-only/);
      await expect(
        dataSource.query('DELETE FROM events WHERE stream_id = $1', [stream]),
      ).rejects.toThrow(/append-only/);
    });

    it('gives every column but stream_id, version and type a default', async () => {
      const stream = uuidv4();
      await dataSource.query(
        `INSERT INTO events (stream_id, version, type) VALUES ($1, 0, 'Happened')`,
        [stream],
      );
      const [stored] = await store.readStream(stream);
      expect(stored).toMatchObject({ version: 0, schemaVersion: 1, data: {}, metadata: {} });
      expect(stored.eventId).toMatch(/^[0-9a-f-]{36}$/);
    });
  });

  describe('appends sent together (group commit)', () => {
    /** Two appends that take the batcher's two places in flight: what comes next waits. */
    const occupy = () =>
      Promise.all([
        store.append(uuidv4(), [event(0)], 'no_stream'),
        store.append(uuidv4(), [event(0)], 'no_stream'),
      ]);
    /** The store's private statement of several appends, to watch or to fail. */
    type Several = { appendSeveral(requests: unknown[]): Promise<unknown> };
    const transactionOf = async (stream: string): Promise<string[]> =>
      (
        await dataSource.query(
          `SELECT DISTINCT transaction_id::text AS t FROM events WHERE stream_id = $1`,
          [stream],
        )
      ).map((r: { t: string }) => r.t);

    it('stores the appends that waited in one transaction, each as if alone', async () => {
      const streams = Array.from({ length: 8 }, () => uuidv4());
      const busy = occupy();
      const results = await Promise.all(
        streams.map((stream, i) => store.append(stream, [event(i), event(i + 100)], 'no_stream')),
      );
      await busy;
      const transactions = new Set((await Promise.all(streams.map(transactionOf))).flat());
      expect(transactions.size).toBe(1);
      for (const [i, stream] of streams.entries()) {
        const read = await store.readStream(stream);
        expect(read.map((e) => [e.version, e.data.n])).toEqual([
          [0, i],
          [1, i + 100],
        ]);
        expect(results[i].events).toEqual(read);
        expect(results[i].version).toBe(1);
        expect(results[i].position).toBe(read[1].position);
      }
      // Inserted in the order of their streams' ids (two processes' batches never deadlock).
      const byId = [...results].sort((x, y) =>
        x.events[0].streamId < y.events[0].streamId ? -1 : 1,
      );
      expect(byId.map((r) => r.position)).toEqual(
        results.map((r) => r.position).sort((a, b) => a - b),
      );
    });

    it('fails only the append whose expectation does not hold; the others commit together', async () => {
      const behind = uuidv4();
      await store.append(behind, [event(0)], 'no_stream');
      const [a, c] = [uuidv4(), uuidv4()];
      const busy = occupy();
      const results = await Promise.allSettled([
        store.append(a, [event(1)], 'no_stream'),
        store.append(behind, [event(1)], 5),
        store.append(c, [event(1)], 'no_stream'),
        store.append(uuidv4(), [event(1)], 'stream_exists'),
      ]);
      await busy;
      expect(results.map((r) => r.status)).toEqual([
        'fulfilled',
        'rejected',
        'fulfilled',
        'rejected',
      ]);
      expect((results[1] as PromiseRejectedResult).reason).toMatchObject({
        code: 'CONCURRENCY_CONFLICT',
        actual: 0,
      });
      expect((results[3] as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyError);
      expect(await transactionOf(a)).toEqual(await transactionOf(c));
      expect(await store.streamVersion(behind)).toBe(0);
    });

    it('fails only the append at fault when a constraint or bad data fails the batch', async () => {
      const taken = uuidv4();
      await store.append(uuidv4(), [event(0, taken)], 'no_stream');
      const [a, b, c] = [uuidv4(), uuidv4(), uuidv4()];
      const busy = occupy();
      const results = await Promise.allSettled([
        store.append(a, [event(1)], 'no_stream'),
        // An event id already stored in another stream: the unique index refuses it.
        store.append(b, [event(1, taken)], 'no_stream'),
        store.append(c, [event(1)], 'no_stream'),
        // PostgreSQL's jsonb cannot hold the character \u0000 (22P05).
        store.append(uuidv4(), [{ ...event(1), data: { s: 'nul \u0000' } }], 'no_stream'),
        // Nor can JSON hold a bigint: the statement cannot even be sent.
        store.append(uuidv4(), [{ ...event(1), data: { n: 1n } as unknown as JsonObject }], -1),
      ]);
      await busy;
      expect(results.map((r) => r.status)).toEqual([
        'fulfilled',
        'rejected',
        'fulfilled',
        'rejected',
        'rejected',
      ]);
      expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyError);
      expect((results[3] as PromiseRejectedResult).reason).toMatchObject({ code: '22P05' });
      expect((results[4] as PromiseRejectedResult).reason).toBeInstanceOf(TypeError);
      expect(await store.streamVersion(a)).toBe(0);
      expect(await store.streamVersion(b)).toBe(-1);
      expect(await store.streamVersion(c)).toBe(0);
    });

    it('stores stream ids and types that an array literal must quote, alone and in a batch', async () => {
      const odd = ['a "b", {c}', 'NULL', '', 'x\\y z', 'ünï'];
      const typed = (n: number) => ({ ...event(n), type: 'Odd "type", {x}' });
      const alone = await store.append(`${uuidv4()} "alone"`, [typed(0), event(1)], 'no_stream');
      expect(alone.events.map((e) => e.type)).toEqual(['Odd "type", {x}', 'Happened']);
      const busy = occupy();
      const results = await Promise.all(
        odd.map((stream) => store.append(stream, [typed(0), event(1)], 'no_stream')),
      );
      await busy;
      expect(results.map((r) => r.version)).toEqual(odd.map(() => 1));
      // Together, in one statement.
      expect(new Set((await Promise.all(odd.map(transactionOf))).flat()).size).toBe(1);
      for (const stream of odd) {
        const stored = await store.readStream(stream);
        expect(stored.map((e) => [e.streamId, e.type, e.data])).toEqual([
          [stream, 'Odd "type", {x}', { n: 0 }],
          [stream, 'Happened', { n: 1 }],
        ]);
      }
    });

    it('stores no event without data, alone or in a batch, and the others of its batch', async () => {
      // An untyped caller's null: the data goes in a JSON array, where it must not become a JSON null.
      const empty = (version: number) => ({
        ...event(version),
        data: null as unknown as JsonObject,
      });
      const alone = uuidv4();
      await expect(store.append(alone, [empty(1)], 'no_stream')).rejects.toMatchObject({
        code: '23502',
      });
      const [a, b] = [uuidv4(), uuidv4()];
      const busy = occupy();
      const results = await Promise.allSettled([
        store.append(a, [event(1)], 'no_stream'),
        store.append(b, [event(1), empty(2)], 'no_stream'),
      ]);
      await busy;
      expect(results[0].status).toBe('fulfilled');
      expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: '23502' });
      expect(await store.streamVersion(alone)).toBe(-1);
      expect(await store.streamVersion(b)).toBe(-1);
      expect(await store.streamVersion(a)).toBe(0);
    });

    it('does not hold up appends to other streams behind a stream another transaction locks', async () => {
      const [x, y] = [uuidv4(), uuidv4()];
      const other = new pg.Client({ connectionString: url });
      await other.connect();
      try {
        await other.query('BEGIN');
        await other.query(
          `INSERT INTO events (stream_id, version, type) VALUES ($1, 0, 'Happened'), ($2, 0, 'Happened')`,
          [x, y],
        );
        // Both wait for that transaction, in the batcher's two places in flight.
        const blocked = [x, y].map((s) => store.append(s, [event(1)], 'no_stream'));
        const free = await store.append(uuidv4(), [event(1)], 'no_stream');
        expect(free.version).toBe(0);
        await other.query('ROLLBACK');
        expect((await Promise.all(blocked)).map((r) => r.version)).toEqual([0, 0]);
      } finally {
        await other.end();
      }
    });

    it('answers the others of a batch while one of its streams waits for a lock, and that one after', async () => {
      const locked = uuidv4();
      const other = new pg.Client({ connectionString: url });
      await other.connect();
      try {
        await other.query('BEGIN');
        await other.query(
          `INSERT INTO events (stream_id, version, type) VALUES ($1, 0, 'Happened')`,
          [locked],
        );
        const sent = jest.spyOn(store as unknown as Several, 'appendSeveral');
        const pool = (dataSource.driver as unknown as { master: pg.Pool }).master;
        let closed = 0;
        const onRemove = () => closed++;
        pool.on('remove', onRemove);
        const busy = occupy();
        const [a, c] = [uuidv4(), uuidv4()];
        const waiting = store.append(locked, [event(1)], 'any');
        const others = Promise.all([
          store.append(a, [event(1)], 'no_stream'),
          store.append(c, [event(1)], 'no_stream'),
        ]);
        await busy;
        // The other transaction is still open: its lock holds only the append to its stream.
        const answered = await Promise.race([
          others.then((results) => results.map((r) => r.version)),
          new Promise((resolve) => setTimeout(() => resolve('still waiting'), 10_000).unref()),
        ]);
        expect(answered).toEqual([0, 0]);
        // The three were sent in one batch, which waited for the lock, then each alone.
        const batches = sent.mock.calls.map(([requests]) =>
          (requests as { streamId: string }[]).map((r) => r.streamId),
        );
        sent.mockRestore();
        expect(batches).toEqual([[locked, a, c]]);
        await other.query('COMMIT');
        expect((await waiting).version).toBe(1);
        // A lock wait past lock_timeout fails the statement, not its connection: the pool keeps it.
        pool.off('remove', onRemove);
        expect(closed).toBe(0);
      } finally {
        await other.end();
      }
    });

    it('fails only the append whose lock wait times out; the others of its batch are stored', async () => {
      const options = dataSourceOptions(url);
      const timed = await new DataSource({
        ...options,
        extra: { max: 10, options: '-c lock_timeout=300' },
      } as typeof options).initialize();
      const other = new pg.Client({ connectionString: url });
      await other.connect();
      try {
        const timedStore = new EventStore(timed);
        const locked = uuidv4();
        await other.query('BEGIN');
        await other.query(
          `INSERT INTO events (stream_id, version, type) VALUES ($1, 0, 'Happened')`,
          [locked],
        );
        const busy = Promise.all([
          timedStore.append(uuidv4(), [event(0)], 'no_stream'),
          timedStore.append(uuidv4(), [event(0)], 'no_stream'),
        ]);
        const [a, c] = [uuidv4(), uuidv4()];
        const results = await Promise.allSettled([
          timedStore.append(a, [event(1)], 'no_stream'),
          timedStore.append(locked, [event(1)], 'no_stream'),
          timedStore.append(c, [event(1)], 'no_stream'),
        ]);
        await busy;
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
        expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: '55P03' });
        await other.query('ROLLBACK');
      } finally {
        await other.end();
        await timed.destroy();
      }
    });

    it('refuses a stream id that is not well-formed Unicode (it would be stored under another)', async () => {
      await expect(store.append('lone \ud800', [event(1)], 'no_stream')).rejects.toThrow(
        /well-formed/,
      );
    });

    it('answers right when a batch fails after its commit, otherwise than by its connection', async () => {
      // Fault injected: the next batch commits, then its answer is lost to an error that is not
      // the server's (a client-side timeout, say): whether it was stored is unknown.
      const several = store as unknown as Several;
      const original = several.appendSeveral.bind(store);
      const spy = jest.spyOn(several, 'appendSeveral').mockImplementationOnce(async (requests) => {
        await original(requests);
        throw new Error('Query read timeout');
      });
      try {
        const existing = uuidv4();
        await store.append(existing, [event(0)], 'no_stream');
        const [a, b] = [uuidv4(), uuidv4()];
        const busy = occupy();
        const results = await Promise.all([
          store.append(a, [event(1), event(2)], 'no_stream'),
          store.append(b, [event(1)], 'any'),
          store.append(existing, [event(1)], 'stream_exists'),
        ]);
        await busy;
        expect(spy).toHaveBeenCalled();
        expect(results.map((r) => r.version)).toEqual([1, 0, 1]);
        for (const [i, stream] of [a, b, existing].entries()) {
          const read = await store.readStream(stream);
          expect(read).toHaveLength(results[i].version + 1);
          expect(results[i].events).toEqual(read.slice(-results[i].events.length));
        }
      } finally {
        spy.mockRestore();
      }
    });

    it('answers a retried append in a batch with the events stored the first time', async () => {
      const stream = uuidv4();
      const ids = [uuidv4(), uuidv4()];
      const first = await store.append(stream, [event(1, ids[0]), event(2, ids[1])], 'no_stream');
      const busy = occupy();
      const [retry, other] = await Promise.all([
        store.append(stream, [event(1, ids[0]), event(2, ids[1])], 'no_stream'),
        store.append(uuidv4(), [event(3)], 'no_stream'),
      ]);
      await busy;
      expect(retry).toEqual(first);
      expect(other.version).toBe(0);
      expect(await store.readStream(stream)).toHaveLength(2);
    });
  });

  describe("appends in a caller's transaction", () => {
    /** Runs `work` in a transaction of its own connection, rolled back unless `work` commits. */
    async function inTransaction(work: (runner: QueryRunner) => Promise<void>): Promise<void> {
      const runner = dataSource.createQueryRunner();
      await runner.connect();
      await runner.startTransaction();
      try {
        await work(runner);
      } finally {
        if (runner.isTransactionActive) await runner.rollbackTransaction();
        await runner.release();
      }
    }

    it('refuses to append after an event of a transaction that got its id later, whatever the expectation', async () => {
      const stream = uuidv4();
      await store.append(stream, [event(0)], 'no_stream');
      await inTransaction(async (runner) => {
        // The transaction takes its id now (as a write of anything else would), then a younger
        // transaction appends and commits.
        await runner.query('SELECT pg_current_xact_id()');
        await store.append(stream, [event(1)], 0);
        for (const expected of [1, 'any', 'stream_exists'] as const) {
          const refused = store.append(stream, [event(2)], expected, runner.manager);
          await expect(refused).rejects.toThrow(TransactionOrderError);
          await expect(refused).rejects.toMatchObject({ actual: 1, code: 'CONCURRENCY_CONFLICT' });
        }
        // Where the expectation fails anyway, that is the answer (a new transaction would not do).
        const behind = store.append(stream, [event(2)], 'no_stream', runner.manager);
        await expect(behind).rejects.toMatchObject({ name: 'ConcurrencyError', actual: 1 });
        await runner.commitTransaction();
      });
      // Stored, its event would have come before version 1 in the log, and been skipped.
      expect((await store.readStream(stream)).map((e) => e.data.n)).toEqual([0, 1]);
    });

    it('appends after a younger transaction committed if the append gives the transaction its id', async () => {
      const start = await lastCheckpoint();
      const stream = uuidv4();
      await store.append(stream, [event(0)], 'no_stream');
      await inTransaction(async (runner) => {
        await runner.query('SELECT 1');
        await store.append(stream, [event(1)], 0);
        const appended = await store.append(stream, [event(2)], 1, runner.manager);
        expect(appended.version).toBe(2);
        // And again in the same transaction: its own event is the head now.
        expect((await store.append(stream, [event(3)], 'any', runner.manager)).version).toBe(3);
        await runner.commitTransaction();
      });
      const log = (await readableSoon(start, 4)).filter((e) => e.streamId === stream);
      expect(log.map((e) => e.version)).toEqual([0, 1, 2, 3]);
    });

    it('answers a retried append with the events stored the first time, and the transaction goes on', async () => {
      const stream = uuidv4();
      const ids = [uuidv4(), uuidv4()];
      const first = await store.append(stream, [event(0, ids[0]), event(1, ids[1])], 'no_stream');
      await inTransaction(async (runner) => {
        const again = await store.append(
          stream,
          [event(0, ids[0]), event(1, ids[1])],
          'any',
          runner.manager,
        );
        expect(again).toEqual(first);
        // Nothing failed in the transaction: it can still write and commit.
        await store.append(stream, [event(2)], 1, runner.manager);
        await runner.commitTransaction();
      });
      expect((await store.readStream(stream)).map((e) => e.data.n)).toEqual([0, 1, 2]);
    });

    it('answers a race lost in the transaction with a ConcurrencyError (the transaction is aborted)', async () => {
      const stream = uuidv4();
      await store.append(stream, [event(0)], 'no_stream');
      await inTransaction(async (winner) => {
        await store.append(stream, [event(1)], 0, winner.manager);
        const losers = (['any', 0] as const).map(async (expected) => {
          let outcome: unknown;
          await inTransaction(async (loser) => {
            // Waits on the winner's uncommitted version 1, then fails on it.
            outcome = await store
              .append(stream, [event(2)], expected, loser.manager)
              .catch((error: unknown) => error);
          });
          return outcome;
        });
        // Both are waiting on the winner's row before it commits.
        await waitForLockWaits(2);
        await winner.commitTransaction();
        for (const outcome of await Promise.all(losers)) {
          expect(outcome).toBeInstanceOf(ConcurrencyError);
          expect(outcome).not.toBeInstanceOf(TransactionOrderError);
        }
      });
      expect((await store.readStream(stream)).map((e) => e.data.n)).toEqual([0, 1]);
    });
  });

  describe('readAll', () => {
    it('never skips an event whose transaction commits after later ones', async () => {
      const slow = new pg.Client({ connectionString: url });
      await slow.connect();
      try {
        const start = await lastCheckpoint();
        await slow.query('BEGIN');
        await slow.query(
          `INSERT INTO events (stream_id, version, type, data) VALUES ($1, 0, 'Happened', '{"n": "slow"}')`,
          [uuidv4()],
        );
        const fast = await store.append(uuidv4(), [event(1)], 'no_stream');
        // The slow transaction holds a lower position but is still open: the fence holds back
        // everything that committed after it began, instead of reading past it.
        const whileOpen = await store.readAll(start, 1000);
        expect(whileOpen.map((e) => e.position)).not.toContain(fast.position);
        await slow.query('COMMIT');
        // Transaction ids are cluster-wide: another database's open transaction can hold the
        // fence back a moment longer, so read until both are there (bounded).
        const after = await readableSoon(start, 2);
        expect(after.map((e) => e.data.n)).toEqual(['slow', 1]);
        expect(after[1].position).toBe(fast.position);
      } finally {
        await slow.end();
      }
    });

    it('pages through the log in checkpoint order', async () => {
      const start = await lastCheckpoint();
      const stream = uuidv4();
      await store.append(stream, [event(1), event(2), event(3)], 'no_stream');
      await readableSoon(start, 3);
      const page1 = await store.readAll(start, 2);
      const last = page1[page1.length - 1];
      const page2 = await store.readAll(
        { transactionId: last.transactionId, position: last.position },
        2,
      );
      expect([...page1, ...page2].map((e) => e.data.n)).toEqual([1, 2, 3]);
      expect(await store.countAfter(start)).toBe(3);
    });
  });

  /**
   * Reads the log after `start` until it holds `count` events (bounded). Transaction ids are
   * cluster-wide: another database's open transaction can hold the fence back for a moment.
   */
  async function readableSoon(start: LogCheckpoint, count: number) {
    let events = await store.readAll(start, 1000);
    for (let i = 0; i < 300 && events.length < count; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      events = await store.readAll(start, 1000);
    }
    return events;
  }

  /** Waits until `count` sessions of this database wait for a lock (bounded). */
  async function waitForLockWaits(count: number): Promise<void> {
    for (let i = 0; i < 500; i++) {
      const [row] = await dataSource.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      if (row.n >= count) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`fewer than ${count} sessions wait for a lock`);
  }

  /**
   * The newest committed event in log order. Not through readAll: another database's open
   * transaction can hold its fence back, and events of earlier tests would then follow `start`.
   */
  async function lastCheckpoint(): Promise<LogCheckpoint> {
    const [last] = await dataSource.query(
      `SELECT transaction_id::text AS "transactionId", global_position::int AS position
       FROM events ORDER BY transaction_id DESC, global_position DESC LIMIT 1`,
    );
    return last ?? LOG_START;
  }
});
