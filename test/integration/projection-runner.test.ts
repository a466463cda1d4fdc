import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import pg from 'pg';
import { DataSource, type EntityManager } from 'typeorm';
import { v4 as uuidv4 } from 'uuid';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import {
  DomainEvent,
  EventRegistry,
  EventStore,
  type EventSourcingOptions,
  type ProjectionContext,
} from '../../src/event-sourcing/index.js';
import { resolveOptions } from '../../src/event-sourcing/options.js';
import { ProjectionRunner } from '../../src/event-sourcing/processor/projection-runner.js';
import { SharedLogReader } from '../../src/event-sourcing/processor/shared-log-reader.js';
import { createTestDatabase } from '../support/database.js';

@DomainEvent('Marked')
class Marked {
  constructor(readonly n: number) {}
}

/** An event the app reads but the `marks` projection does not handle. */
@DomainEvent('Ignored')
class Ignored {
  constructor(readonly n: number) {}
}

/** The `marks` handler fails on a Marked event with this `n`. */
const POISON = -1;
/** When the handler defers its writes, the write of a Marked event with this `n` fails. */
const FAILING_WRITE = -2;
/** When the handler defers its writes, pg cannot serialize the parameter of this one's write. */
const UNSERIALIZABLE = -3;

/** A test database with the `marks` table and its projection's checkpoint. */
async function marksDatabase() {
  const url = await createTestDatabase();
  const dataSource = await new DataSource(dataSourceOptions(url)).initialize();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`CREATE TABLE marks (position bigint PRIMARY KEY)`);
  await client.query(`INSERT INTO projection_checkpoints (name) VALUES ('marks')`);
  return { url, dataSource, store: new EventStore(dataSource), client };
}

// One runner driven batch by batch, its handler writing a row per event into `marks`.
describe('ProjectionRunner', () => {
  let url: string;
  let dataSource: DataSource;
  let store: EventStore;
  let other: pg.Client;
  /** Runs in the handler, with the batch's manager. */
  let duringBatch: (manager: EntityManager) => Promise<void> = async () => undefined;
  /** The handler writes in a transaction of its own (nested in the batch's, as TypeORM nests them). */
  let nested = false;
  /** The handler fails as a cancelled statement does (statement_timeout, an operator). */
  let cancelled = false;
  /**
   * The handler fails this many more times as a statement fails whose preparation the server no
   * longer has (26000: a pooler resetting sessions, say).
   */
  let lostStatements = 0;
  /** While set, the handler fails as a statement on a lost connection does; counts its calls. */
  let connectionLost = false;
  let handlerCalls = 0;
  /** The projection declares `rebuildByStream`. */
  let byStream = false;
  /** The events of each batch the handler got, while it did not fail. */
  const applied: number[][] = [];
  /**
   * The handler defers its insert (ProjectionContext.defer); for a FAILING_WRITE event it
   * defers a statement that fails with a division by zero, the error that also tells a batch its
   * checkpoint moved.
   */
  let deferring = false;

  const runner = (db = dataSource, options: EventSourcingOptions = {}) => {
    const registry = new EventRegistry();
    registry.register([Marked, Ignored]);
    const handler = {
      handle: () => Promise.reject(new Error('handleBatch is used')),
      async handleBatch(
        envelopes: { position: number; event: object }[],
        { manager, defer }: Pick<ProjectionContext, 'manager' | 'defer'>,
      ) {
        const insert = (m: EntityManager) =>
          m.query(`INSERT INTO marks SELECT unnest($1::bigint[])`, [
            envelopes.map((e) => e.position),
          ]);
        if (deferring) {
          const n = (e: { event: object }) => (e.event as Marked).n;
          const good = envelopes.filter((e) => n(e) !== FAILING_WRITE && n(e) !== UNSERIALIZABLE);
          defer(`INSERT INTO marks SELECT unnest($1::bigint[])`, [good.map((e) => e.position)]);
          if (envelopes.some((e) => n(e) === FAILING_WRITE)) defer('SELECT 1 / 0');
          if (envelopes.some((e) => n(e) === UNSERIALIZABLE)) {
            const parameter = {
              toPostgres() {
                throw new Error('cannot be serialized');
              },
            };
            defer(`INSERT INTO marks VALUES ($1)`, [parameter]);
          }
          await duringBatch(manager);
          return;
        }
        handlerCalls += 1;
        if (connectionLost) throw new Error('Connection terminated unexpectedly');
        applied.push(envelopes.map((e) => e.position));
        if (cancelled) {
          throw Object.assign(new Error('canceling statement due to statement timeout'), {
            code: '57014',
          });
        }
        if (lostStatements > 0) {
          lostStatements -= 1;
          const lost = new pg.DatabaseError('prepared statement "x" does not exist', 0, 'error');
          throw Object.assign(lost, { code: '26000' });
        }
        if (envelopes.some((e) => (e.event as Marked).n === POISON)) throw new Error('poison');
        await (nested ? manager.transaction(insert) : insert(manager));
        await duringBatch(manager);
      },
    };
    const own = db === dataSource ? store : new EventStore(db);
    return new ProjectionRunner(
      {
        name: 'marks',
        kind: 'read-model',
        tables: ['marks'],
        rebuildByStream: byStream,
        handlers: [{ instance: handler, events: [Marked] }],
      },
      db,
      own,
      new SharedLogReader(own),
      registry,
      resolveOptions(options),
      () => undefined,
    );
  };
  const checkpoint = async (client = other) =>
    (
      await client.query(
        `SELECT global_position::int AS position FROM projection_checkpoints WHERE name = 'marks'`,
      )
    ).rows[0].position;
  /** What another process (or an operator) does: set the checkpoint at an event's position. */
  const moveCheckpointTo = async (position: number) => {
    const [row] = (
      await other.query(
        `SELECT transaction_id::text AS tx FROM events WHERE global_position = $1`,
        [position],
      )
    ).rows;
    await other.query(
      `UPDATE projection_checkpoints SET transaction_id = $1::xid8, global_position = $2 WHERE name = 'marks'`,
      [row.tx, position],
    );
  };
  /**
   * Appends, then waits until the events are behind the pg_snapshot_xmin fence: a transaction
   * still open in another test file's database holds the fence back for the whole server.
   */
  const append = (...args: Parameters<EventStore['append']>) => appendOn(store, other, ...args);
  /** {@link append} with the store and client of another database. */
  const appendOn = async (
    on: EventStore,
    client: pg.Client,
    ...args: Parameters<EventStore['append']>
  ) => {
    const appended = await on.append(...args);
    for (let tries = 0; ; tries++) {
      const { rows } = await client.query(
        `SELECT transaction_id < pg_snapshot_xmin(pg_current_snapshot()) AS behind
           FROM events WHERE global_position = $1`,
        [appended.events[0].position],
      );
      if (rows[0].behind) return appended;
      if (tries >= 1_500) throw new Error('the fence did not pass the appended events in 30 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  /** Waits (10 s at most) until `done` holds. */
  const until = async (done: () => Promise<boolean>, what: string) => {
    for (let tries = 0; !(await done()); tries++) {
      if (tries >= 500) throw new Error(`waited 10 s for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  /**
   * Holds the handler of every batch (`duringBatch`) until `release`; `entered` resolves once a
   * batch is held.
   */
  const holdBatches = () => {
    let settle = () => undefined as void;
    const held = new Promise<void>((resolve) => (settle = resolve));
    let enter = () => undefined as void;
    const entered = new Promise<void>((resolve) => (enter = resolve));
    duringBatch = async () => {
      enter();
      await held;
    };
    const release = () => {
      settle();
      duringBatch = async () => undefined;
    };
    return { entered, release };
  };
  const marks = async (client = other) =>
    (await client.query(`SELECT position::int FROM marks ORDER BY 1`)).rows.map((r) => r.position);
  /** Connections of the DataSource's pool left in pg's pipeline mode. */
  const pipelining = () =>
    (
      (dataSource.driver as unknown as { master: { _clients: { pipeline: boolean }[] } }).master
        ._clients ?? []
    ).filter((client) => client.pipeline).length;

  beforeAll(async () => {
    ({ url, dataSource, store, client: other } = await marksDatabase());
  });
  afterAll(async () => {
    await other.end();
    await dataSource.destroy();
  });

  it('rolls a batch back when its checkpoint moved under it (a manual reset, say)', async () => {
    const stream = uuidv4();
    const event = (n: number) => ({ type: 'Marked', schemaVersion: 1, data: { n } });
    const { events } = await append(stream, [event(1), event(2)], 'no_stream');
    const [first, second] = events.map((e) => e.position);

    // While the batch runs, something outside the lock moves the checkpoint past the first event.
    duringBatch = async () => {
      await moveCheckpointTo(first);
    };
    const r = runner();
    expect(await r.processBatch()).toBe(0);
    expect(await marks()).toEqual([]); // this batch's rows were rolled back
    expect(await checkpoint()).toBe(first);

    duringBatch = async () => undefined;
    expect(await r.processBatch()).toBe(1); // the event after the other process's checkpoint
    expect(await marks()).toEqual([second]);
    expect(await checkpoint()).toBe(second);
  });

  it("keeps a handler's own transaction inside the batch's: it rolls back with the batch", async () => {
    const stream = uuidv4();
    const event = (n: number) => ({ type: 'Marked', schemaVersion: 1, data: { n } });
    const before = await checkpoint();
    const { events } = await append(stream, [event(1)], 'no_stream');
    const [{ position }] = events;
    nested = true;
    try {
      duringBatch = async () => {
        await other.query(
          `UPDATE projection_checkpoints SET updated_at = now(), global_position = global_position - 1 WHERE name = 'marks'`,
        );
      };
      expect(await runner().processBatch()).toBe(0);
      expect(await marks()).not.toContain(position);
      await other.query(
        `UPDATE projection_checkpoints SET global_position = global_position + 1 WHERE name = 'marks'`,
      );
      expect(await checkpoint()).toBe(before);

      duringBatch = async () => undefined;
      expect(await runner().processBatch()).toBe(1);
      expect(await marks()).toContain(position);
      expect(await checkpoint()).toBe(position);
    } finally {
      nested = false;
    }
  });

  it('runs batches and rebuilds without JIT, and without waiting for the WAL flush at commit', async () => {
    const event = { type: 'Marked', schemaVersion: 1, data: { n: 1 } };
    await append(uuidv4(), [event], 'no_stream');
    // One connection, with JIT on whatever the server's default: the runner must switch it off.
    const single = await new DataSource({
      ...dataSourceOptions(url),
      extra: { max: 1, options: '-c jit=on' },
    }).initialize();
    const settings: string[][] = [];
    const current = `SELECT current_setting('jit') AS jit, current_setting('synchronous_commit') AS sync`;
    duringBatch = async (manager) => {
      const [row] = await manager.query(current);
      settings.push([row.jit, row.sync]);
    };
    try {
      const r = runner(single);
      expect(await r.processBatch()).toBeGreaterThan(0);
      await r.rebuild();
      expect(settings.length).toBeGreaterThanOrEqual(2);
      for (const s of settings) expect(s).toEqual(['off', 'off']);
      // Settings of the transaction only: the pooled connection has JIT back after it.
      const [after] = await single.query(current);
      expect(after.jit).toBe('on');
    } finally {
      duringBatch = async () => undefined;
      await single.destroy();
    }
  });

  describe('writes a handler defers', () => {
    const event = (n: number) => ({ type: 'Marked', schemaVersion: 1, data: { n } });
    const parked = async () =>
      (
        await other.query(
          `SELECT global_position::int AS position FROM parked_events WHERE projection = 'marks'`,
        )
      ).rows.map((r) => r.position);

    it("commit with the batch's checkpoint", async () => {
      deferring = true;
      try {
        const { events } = await append(uuidv4(), [event(1), event(2)], 'no_stream');
        const positions = events.map((e) => e.position);
        expect(await runner().processBatch()).toBe(2);
        expect(await marks()).toEqual(expect.arrayContaining(positions));
        expect(await checkpoint()).toBe(positions[1]);
        expect(pipelining()).toBe(0);
      } finally {
        deferring = false;
      }
    });

    it('roll back with the batch when its checkpoint moved under it', async () => {
      deferring = true;
      try {
        const { events } = await append(uuidv4(), [event(1), event(2)], 'no_stream');
        const [first, second] = events.map((e) => e.position);
        duringBatch = () => moveCheckpointTo(first);
        expect(await runner().processBatch()).toBe(0);
        expect(await marks()).not.toContain(first);
        expect(await checkpoint()).toBe(first);
        duringBatch = async () => undefined;
        expect(await runner().processBatch()).toBe(1);
        expect(await marks()).toContain(second);
        expect(await marks()).not.toContain(first);
      } finally {
        deferring = false;
        duringBatch = async () => undefined;
      }
    });

    it('fail the batch, sending nothing, when pg cannot serialize one', async () => {
      deferring = true;
      try {
        const before = await checkpoint();
        const { events } = await append(uuidv4(), [event(1), event(UNSERIALIZABLE)], 'no_stream');
        await expect(runner().processBatch()).rejects.toThrow('cannot be serialized');
        expect(await marks()).not.toContain(events[0].position);
        expect(await checkpoint()).toBe(before);
        expect(pipelining()).toBe(0);
        // Applied by hand, so that the events after it do not trip the next tests.
        await other.query(
          `INSERT INTO marks VALUES ($1), ($2)`,
          events.map((e) => e.position),
        );
        await moveCheckpointTo(events[1].position);
      } finally {
        deferring = false;
      }
    });

    it('fail the batch when one fails: the event is parked, the others are applied', async () => {
      deferring = true;
      const r = runner(dataSource, { poisonAfterAttempts: 2 });
      try {
        const [good] = (await append(uuidv4(), [event(1)], 'no_stream')).events;
        const [poison] = (await append(uuidv4(), [event(FAILING_WRITE)], 'no_stream')).events;
        const [later] = (await append(uuidv4(), [event(2)], 'no_stream')).events;
        // A whole batch fails, then its events go one by one: the division by zero is the
        // write's failure, not a checkpoint that moved, so the poison event ends up parked.
        await expect(r.processBatch()).rejects.toMatchObject({ code: '22012' });
        expect(await marks()).not.toContain(good.position);
        expect(await checkpoint()).toBeLessThan(good.position);
        expect(pipelining()).toBe(0);
        r.start();
        await until(async () => (await checkpoint()) === later.position, 'the runner to pass');
        expect(await marks()).toEqual(expect.arrayContaining([good.position, later.position]));
        expect(await marks()).not.toContain(poison.position);
        expect(await parked()).toContain(poison.position);
        expect(pipelining()).toBe(0);
      } finally {
        deferring = false;
        await r.stop();
      }
    });

    it('run in a rebuild with its savepoints: the event whose write fails is parked', async () => {
      await append(uuidv4(), [event(7), event(FAILING_WRITE), event(8)], 'no_stream');
      await append(uuidv4(), [event(9)], 'no_stream');
      deferring = true;
      try {
        await runner().rebuild();
      } finally {
        deferring = false;
      }
      // Every event whose write fails (this test's and the earlier tests'), then the events after
      // it in its stream, are parked; the others are applied.
      const { rows } = await other.query(
        `SELECT e.global_position::int AS position, EXISTS (
           SELECT 1 FROM events f WHERE f.stream_id = e.stream_id AND f.version <= e.version
             AND (f.data->>'n')::int IN ($1, $2)) AS fails
         FROM events e WHERE e.type = 'Marked' ORDER BY 1`,
        [FAILING_WRITE, UNSERIALIZABLE],
      );
      const failing = rows.filter((r) => r.fails).map((r) => r.position);
      expect(failing.length).toBeGreaterThanOrEqual(3);
      expect((await parked()).sort((a, b) => a - b)).toEqual(failing);
      expect(await marks()).toEqual(rows.filter((r) => !r.fails).map((r) => r.position));
    });
  });

  describe('events no handler takes', () => {
    const marked = { type: 'Marked', schemaVersion: 1, data: { n: 1 } };
    const ignored = { type: 'Ignored', schemaVersion: 1, data: { n: 1 } };
    const appendOne = async (event: typeof marked) =>
      (await append(uuidv4(), [event], 'no_stream')).events[0].position;

    it('moves the checkpoint past them, then applies the next handled event', async () => {
      const r = runner();
      const first = await appendOne(marked);
      expect(await r.processBatch()).toBe(1);
      const skipped = [await appendOne(ignored), await appendOne(ignored)];
      expect(await r.processBatch()).toBe(2);
      expect(await checkpoint()).toBe(skipped[1]);
      const next = await appendOne(marked);
      expect(await r.processBatch()).toBe(1);
      expect(await checkpoint()).toBe(next);
      const all = await marks();
      expect(all).toContain(first);
      expect(all).toContain(next);
      expect(all).not.toContain(skipped[0]);
    });

    it('takes them in a batch, read while it opens, when woken after a batch it applied', async () => {
      const r = runner();
      await appendOne(marked);
      expect(await r.processBatch()).toBe(1);
      const next = await appendOne(marked);
      const ignoredToo = await appendOne(ignored);
      r.wake(); // as an append does: the batch opens while the log is read
      expect(await r.processBatch()).toBe(2);
      expect(await checkpoint()).toBe(ignoredToo);
      const all = await marks();
      expect(all).toContain(next);
      expect(all).not.toContain(ignoredToo);
      // Then nothing is left: the next wake reads nothing and moves nothing.
      r.wake();
      expect(await r.processBatch()).toBe(0);
      expect(await checkpoint()).toBe(ignoredToo);
    });

    it('opens no batch when woken for events it has read already', async () => {
      const r = runner();
      await appendOne(marked);
      expect(await r.processBatch()).toBe(1);
      // An append wakes it after its event went into a batch (the wake comes when the append
      // returns): the next batch would find nothing, so it reads before it opens one.
      const late = await appendOne(marked);
      r.wake(late);
      expect(await r.processBatch()).toBe(1);
      r.wake(late);
      // The batch transaction (withCheckpoint): a read that finds nothing opens none.
      const opened = jest.spyOn(
        r as unknown as { withCheckpoint: () => unknown },
        'withCheckpoint',
      );
      try {
        expect(await r.processBatch()).toBe(0);
        expect(opened).not.toHaveBeenCalled();
        // Woken for an event it has not read: the batch opens while the log is read.
        const next = await appendOne(marked);
        r.wake(next);
        expect(await r.processBatch()).toBe(1);
        expect(opened).toHaveBeenCalledTimes(1);
        expect(await marks()).toContain(next);
      } finally {
        opened.mockRestore();
      }
    });

    it('looks again soon when a wake finds its events still behind the fence', async () => {
      const r = runner(dataSource, { pollIntervalMs: 60_000 });
      const first = await appendOne(marked);
      const holder = new pg.Client({ connectionString: url });
      await holder.connect();
      r.start();
      try {
        await until(async () => (await checkpoint()) === first, 'the runner to catch up');
        // A transaction older than the next event holds the fence back, as another database's can.
        await holder.query('BEGIN');
        await holder.query('SELECT pg_current_xact_id()');
        const { events } = await store.append(uuidv4(), [marked], 'no_stream');
        r.wake(); // as the append's NOTIFY does: nothing to read yet
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(await marks()).not.toContain(events[0].position);
        await holder.query('COMMIT');
        // Well before the 60 s poll.
        await until(async () => (await marks()).includes(events[0].position), 'the event');
      } finally {
        await holder.end();
        await r.stop();
      }
    });

    it('does not move the checkpoint while another process holds the projection', async () => {
      const r = runner();
      await appendOne(marked);
      expect(await r.processBatch()).toBe(1);
      const before = await checkpoint();
      const holder = new pg.Client({ connectionString: url });
      await holder.connect();
      try {
        // A batch or a rebuild in another process: the projection's lock, in a transaction.
        await holder.query('BEGIN');
        await holder.query(`SELECT pg_advisory_xact_lock(7265002, hashtext('marks'))`);
        const last = await appendOne(ignored);
        expect(await r.processBatch()).toBe(0);
        expect(await checkpoint()).toBe(before);
        await holder.query('COMMIT');
        expect(await r.processBatch()).toBe(1);
        expect(await checkpoint()).toBe(last);
      } finally {
        await holder.end();
      }
    });

    it('skips from where the checkpoint is when something else moved it', async () => {
      const r = runner();
      await appendOne(marked);
      expect(await r.processBatch()).toBe(1);
      // Another process moves the checkpoint past the next event; the runner does not know.
      const elsewhere = await appendOne(ignored);
      await moveCheckpointTo(elsewhere);
      const last = await appendOne(ignored);
      expect(await r.processBatch()).toBe(1); // only the event after the moved checkpoint
      expect(await checkpoint()).toBe(last);
    });
  });

  describe('while events keep coming', () => {
    const event = (n: number) => ({ type: 'Marked', schemaVersion: 1, data: { n } });
    /** Whether a session holds an advisory lock in this database (the projection's). */
    const locked = async () =>
      (
        await other.query(
          `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        )
      ).rows[0].n > 0;
    /**
     * A runner's first batch, with deferred writes: one event, during which the handler appends
     * a second to the same stream, and wakes the runner for it as the processor does (unless
     * `wake` is false). Returns the runner (`r`, or a new one) and the two events' positions.
     */
    const firstBatch = async (wake = true, r = runner()) => {
      deferring = true;
      const stream = uuidv4();
      const [first] = (await append(stream, [event(1)], 'no_stream')).events;
      let second: number | undefined;
      duringBatch = async () => {
        if (second !== undefined) return;
        second = -1;
        second = (await append(stream, [event(2)], 0)).position;
        if (wake) r.wake(second);
      };
      // As the runner's loop calls it: the batch may open the next one.
      expect(await r.processBatch(undefined, true)).toBe(1);
      return { r, first: first.position, second: second! };
    };
    afterEach(() => {
      deferring = false;
      duringBatch = async () => undefined;
    });

    it('open the next batch, and read its events, in the round trip that commits one', async () => {
      const { r, first, second } = await firstBatch();
      try {
        expect(await checkpoint()).toBe(first);
        // The event appended during the batch was read with its commit, and the next batch's
        // transaction is open, holding the projection's lock.
        expect(await locked()).toBe(true);
        expect(await r.processBatch(undefined, true)).toBe(1);
        expect(await marks()).toEqual(expect.arrayContaining([first, second]));
        expect(await checkpoint()).toBe(second);
        // Nothing came during that one: its commit opened nothing.
        expect(await locked()).toBe(false);
        expect(pipelining()).toBe(0);
      } finally {
        await r.stop();
      }
    });

    it('open none when not woken during the batch for events it has not read', async () => {
      const { r, second } = await firstBatch(false);
      try {
        // The next batch would most likely find nothing: no transaction was opened for it.
        expect(await locked()).toBe(false);
        expect(await marks()).not.toContain(second);
        expect(await r.processBatch(undefined, true)).toBe(1);
        expect(await marks()).toContain(second);
      } finally {
        await r.stop();
      }
    });

    it('open the next batch when woken before the batch for events it did not read', async () => {
      // The batch opened by the first one takes the event read with its commit; a third comes
      // after that read, and its wake before the batch runs.
      const { r, second } = await firstBatch();
      try {
        const stream = uuidv4();
        const third = (await append(stream, [event(3)], 'no_stream')).events[0].position;
        r.wake(third);
        expect(await r.processBatch(undefined, true)).toBe(1);
        expect(await marks()).toContain(second);
        // It looks again in the round trip that commits: the next batch is open, with the third.
        expect(await locked()).toBe(true);
        expect(await r.processBatch(undefined, true)).toBe(1);
        expect(await marks()).toContain(third);
      } finally {
        await r.stop();
      }
    });

    it("read the next batch's events, in the commit, with the prepared read of the log", async () => {
      await withPool(1, async (single) => {
        /** Executions of the log's read prepared on the pool's one connection. */
        const reads = async () =>
          (
            (await single.query(
              `SELECT (generic_plans + custom_plans)::int AS n FROM pg_prepared_statements
                 WHERE statement ~ 'pg_snapshot_xmin'`,
            )) as { n: number }[]
          ).reduce((sum, { n }) => sum + n, 0);
        const r = runner(single);
        try {
          while ((await r.processBatch()) > 0);
          const before = await reads();
          const { second } = await firstBatch(true, r);
          // The batch opened by that commit has the second event: it reads nothing more.
          expect(await r.processBatch(undefined, true)).toBe(1);
          expect(await marks()).toContain(second);
          // The batch's own read, and the one sent with its commit: both the prepared statement.
          expect((await reads()) - before).toBe(2);
        } finally {
          await r.stop();
        }
      });
    });

    it("send the batch's writes, its commit and the next opening in one write to the socket", async () => {
      await withPool(1, async (single) => {
        const r = runner(single);
        try {
          while ((await r.processBatch()) > 0);
          // The pool's one connection: what each write to its socket carries.
          const [client] = (
            single.driver as unknown as {
              master: { _clients: { connection: { stream: Record<string, unknown> } }[] };
            }
          ).master._clients;
          const stream = client.connection.stream as {
            _write(chunk: Buffer, encoding: string, done: () => void): void;
            _writev(chunks: { chunk: Buffer }[], done: () => void): void;
          };
          const writes: string[] = [];
          const { _write, _writev } = stream;
          stream._write = (chunk, encoding, done) => {
            writes.push(chunk.toString('latin1'));
            _write.call(stream, chunk, encoding, done);
          };
          stream._writev = (chunks, done) => {
            writes.push(chunks.map(({ chunk }) => chunk.toString('latin1')).join(''));
            _writev.call(stream, chunks, done);
          };
          try {
            await firstBatch(true, r);
          } finally {
            Object.assign(stream, { _write, _writev });
          }
          // The write with the checkpoint's move (and the commit) carries the deferred insert
          // and the next batch's opening: nothing else went on its own.
          const closing = writes.filter((w) => w.includes('UPDATE projection_checkpoints'));
          expect(closing).toHaveLength(1);
          expect(closing[0]).toContain('INSERT INTO marks');
          expect(closing[0]).toContain('COMMIT\0');
          expect(closing[0]).toContain('pg_try_advisory_xact_lock');
          expect(writes.filter((w) => w.includes('INSERT INTO marks'))).toHaveLength(1);
          expect(await locked()).toBe(true);
        } finally {
          await r.stop();
        }
      });
    });

    it('look again at once when woken before a batch that could not open the next', async () => {
      await withPool(1, async (single) => {
        const r = runner(single, { pollIntervalMs: 60_000 });
        const holder = new pg.Client({ connectionString: url });
        await holder.connect();
        try {
          while ((await r.processBatch()) > 0);
          const [seen] = (await append(uuidv4(), [event(1)], 'no_stream')).events;
          // A transaction older than the next event holds the fence back: the batch woken for
          // that event reads only the one before it.
          await holder.query('BEGIN');
          await holder.query('SELECT pg_current_xact_id()');
          const [behind] = (await store.append(uuidv4(), [event(2)], 'no_stream')).events;
          // A caller waits for the pool's one connection when that batch commits: it cannot open
          // the next batch, which would have read again.
          let waiting: Promise<unknown> | undefined;
          duringBatch = async () => {
            waiting ??= single.query('SELECT 1');
          };
          r.wake(behind.position);
          r.start();
          await until(async () => (await marks()).includes(seen.position), 'the first event');
          await waiting;
          expect(await marks()).not.toContain(behind.position);
          await holder.query('COMMIT');
          // Well before the 60 s poll: the wake for the event it did not read still holds.
          await until(async () => (await marks()).includes(behind.position), 'the later event');
        } finally {
          await holder.end();
          await r.stop();
        }
      });
    });

    it('give up the connection when the opening of the next batch fails on it', async () => {
      await withPool(1, async (single) => {
        const pid = async () =>
          ((await single.query('SELECT pg_backend_pid() AS pid')) as { pid: number }[])[0].pid;
        const r = runner(single);
        // Catch up, preparing the read of the log on the pool's one connection.
        while ((await r.processBatch()) > 0);
        const before = await pid();
        deferring = true;
        const stream = uuidv4();
        await append(stream, [event(1)], 'no_stream');
        let second: number | undefined;
        duringBatch = async (manager) => {
          if (second !== undefined) return;
          second = -1;
          // The server forgets the read behind pg's back, during the batch, on its connection.
          await manager.query('DEALLOCATE ALL');
          second = (await append(stream, [event(2)], 0)).position;
          r.wake(second);
        };
        // The batch commits; the read that opens the next one fails on that connection.
        expect(await r.processBatch(undefined, true)).toBe(1);
        expect(await locked()).toBe(false);
        expect(await pid()).not.toBe(before);
        expect(await r.processBatch(undefined, true)).toBe(1);
        expect(await marks()).toContain(second);
        await r.stop();
      });
    });

    it('open the next batch after a full one, woken or not (catching up)', async () => {
      deferring = true;
      const stream = uuidv4();
      const { events } = await append(stream, [event(1), event(2)], 'no_stream');
      const r = runner();
      try {
        // Catching up: the checkpoint is behind events of other tests too, so take one at a time.
        while ((await checkpoint()) < events[0].position) await r.processBatch(1, true);
        expect(await locked()).toBe(true);
        expect(await r.processBatch(1, true)).toBe(1);
        expect(await checkpoint()).toBe(events[1].position);
        expect(await marks()).toEqual(expect.arrayContaining(events.map((e) => e.position)));
      } finally {
        await r.stop();
      }
    });

    it('roll back the batch opened that way when the runner stops', async () => {
      const { r, second } = await firstBatch();
      try {
        expect(await locked()).toBe(true);
      } finally {
        await r.stop();
      }
      expect(await locked()).toBe(false);
      expect(await marks()).not.toContain(second);
      expect(await runner().processBatch()).toBe(1);
      expect(await marks()).toContain(second);
    });

    it('roll back the batch opened that way before a rebuild without the loop', async () => {
      const { r, second } = await firstBatch();
      expect(await locked()).toBe(true);
      // The runner's loop does not run: the opened batch would hold the lock the rebuild waits for.
      await r.rebuild();
      expect(await locked()).toBe(false);
      expect(await marks()).toContain(second);
    });

    it('let a rebuild take the lock between two batches', async () => {
      deferring = true;
      const r = runner();
      let appending = true;
      const appends = (async () => {
        for (let n = 100; appending; n++) await append(uuidv4(), [event(n)], 'no_stream');
      })();
      // Awaited below; if the test times out first, its failure must not end the process.
      appends.catch(() => undefined);
      try {
        r.start();
        await until(async () => (await marks()).length > 0 && (await locked()), 'batches');
        await r.rebuild();
      } finally {
        appending = false;
        await appends;
      }
      try {
        const [{ last }] = (
          await other.query(`SELECT max(global_position)::int AS last FROM events`)
        ).rows;
        await until(async () => (await checkpoint()) === last, 'the runner to catch up');
      } finally {
        await r.stop();
      }
      expect(await locked()).toBe(false);
    });
  });

  it('rebuilds, parking an event that fails and the later events of its stream', async () => {
    const event = (n: number) => ({ type: 'Marked', schemaVersion: 1, data: { n } });
    const poisoned = uuidv4();
    const before = (await append(uuidv4(), [event(1), event(2)], 'no_stream')).events;
    const stream = (await append(poisoned, [event(3), event(POISON), event(4)], 'no_stream'))
      .events;
    const after = (await append(uuidv4(), [event(5)], 'no_stream')).events;
    const [poison, heldBack] = stream.slice(1).map((e) => e.position);
    // Rows the rebuild must drop: nothing in the log writes them.
    await other.query(`INSERT INTO marks VALUES (-5), (-6) ON CONFLICT DO NOTHING`);

    await runner().rebuild();

    const { rows: log } = await other.query(
      `SELECT global_position::int AS position FROM events WHERE type = 'Marked' ORDER BY 1`,
    );
    const applied = log.map((r) => r.position).filter((p) => p !== poison && p !== heldBack);
    expect(await marks()).toEqual(applied);
    for (const e of [...before, stream[0], ...after]) expect(applied).toContain(e.position);
    const { rows: parked } = await other.query(
      `SELECT global_position::int AS position, stream_id, error, attempts FROM parked_events
        WHERE projection = 'marks' ORDER BY 1`,
    );
    expect(parked).toEqual([
      { position: poison, stream_id: poisoned, error: 'poison', attempts: 1 },
      {
        position: heldBack,
        stream_id: poisoned,
        error: expect.stringMatching(/held back/),
        attempts: 0,
      },
    ]);
    const [{ last }] = (await other.query(`SELECT max(global_position)::int AS last FROM events`))
      .rows;
    expect(await checkpoint()).toBe(last);
  });

  // A database of their own (no event of the other tests in the log), and pages of 2 events.
  describe('with rebuildByStream', () => {
    let own: DataSource;
    let ownStore: EventStore;
    let raw: pg.Client;
    const event = (n: number) => ({ type: 'Marked', schemaVersion: 1, data: { n } });
    const pages = { batchSize: 2, rebuildPageSize: 2 };

    beforeAll(async () => {
      ({ dataSource: own, store: ownStore, client: raw } = await marksDatabase());
      // Streams in a known order (the database's collation sorts these as written).
      for (const [stream, expected] of [
        ['stream-a', 'no_stream'],
        ['stream-b', 'no_stream'],
        ['stream-a', 0],
        ['stream-b', 0],
        ['stream-a', 1],
      ] as const) {
        await appendOn(ownStore, raw, stream, [event(1)], expected);
      }
    });
    afterAll(async () => {
      await raw.end();
      await own.destroy();
    });
    afterEach(() => {
      byStream = false;
      duringBatch = async () => undefined;
    });

    it('rebuilds stream by stream, page after page, and ends where the log ended', async () => {
      const { rows } = await raw.query(
        `SELECT global_position::int AS position, stream_id FROM events ORDER BY global_position`,
      );
      const log = rows.map((r) => r.position);
      const of = (stream: string) =>
        rows.filter((r) => r.stream_id === stream).map((r) => r.position);
      byStream = true;
      const calls = applied.length;
      await runner(own, pages).rebuild();
      // Pages of 2, stream by stream: a0 a1 | a2 b0 | b1 (log order: a0 b0 a1 b1 a2).
      const [a, b] = [of('stream-a'), of('stream-b')];
      expect(applied.slice(calls)).toEqual([[a[0], a[1]], [a[2], b[0]], [b[1]]]);
      expect(await marks(raw)).toEqual(log);
      // The end of the log (a2), not the last event read (b1).
      expect(await checkpoint(raw)).toBe(log[log.length - 1]);
    });

    it('leaves an event that commits during the rebuild, though older, to the batches after it', async () => {
      // A transaction that writes before the rebuild starts and commits while it runs: its event
      // is below the rebuild's own transaction in the log, and visible to its later pages.
      const writer = own.createQueryRunner();
      await writer.connect();
      await writer.startTransaction();
      let late: number;
      try {
        const appended = await ownStore.append('stream-c', [event(2)], 'no_stream', writer.manager);
        late = appended.events[0].position;
        byStream = true;
        const { entered, release } = holdBatches();
        const r = runner(own, pages);
        const rebuilt = r.rebuild();
        await entered;
        await writer.commitTransaction();
        release();
        await rebuilt;
      } finally {
        if (writer.isTransactionActive) await writer.rollbackTransaction();
        await writer.release();
      }
      expect(await marks(raw)).not.toContain(late);
      const end = await checkpoint(raw);
      expect(end).toBeLessThan(late);
      const r = runner(own, pages);
      await until(async () => {
        await r.processBatch();
        return (await marks(raw)).includes(late);
      }, 'the batch after the rebuild');
      expect(await checkpoint(raw)).toBe(late);
    });
  });

  it('parks the events behind a parked one of their stream, and applies the others as one batch', async () => {
    const event = (n: number) => ({ type: 'Marked', schemaVersion: 1, data: { n } });
    const [held, free] = [uuidv4(), uuidv4()];
    const positions: number[] = [];
    for (const [stream, n] of [
      [held, 1],
      [free, 2],
      [held, 3],
      [free, 4],
    ] as const) {
      const version = positions.length < 2 ? 'no_stream' : 0;
      positions.push((await append(stream, [event(n)], version)).events[0].position);
    }
    const db = dataSource.createQueryRunner();
    await db.connect();
    await db.startTransaction();
    try {
      const events = await store.readPositions(positions, db.manager);
      const calls = applied.length;
      const r = runner() as unknown as {
        applyWithSavepoints(events: unknown[], runner: unknown, held: Set<string>): Promise<void>;
      };
      await r.applyWithSavepoints(events, db, new Set([held]));
      // One call of the handler, with the free stream's events (not one per event).
      expect(applied.slice(calls)).toEqual([[positions[1], positions[3]]]);
      const parked = await db.query(
        `SELECT global_position::int AS position, error FROM parked_events
          WHERE projection = 'marks' AND stream_id = $1 ORDER BY 1`,
        [held],
      );
      expect(parked).toEqual([
        { position: positions[0], error: expect.stringMatching(/held back/) },
        { position: positions[2], error: expect.stringMatching(/held back/) },
      ]);
    } finally {
      await db.rollbackTransaction();
      await db.release();
    }
  });

  /** Runs `work` with a DataSource on a pool of `max` connections, and one new Marked event. */
  const withPool = async (
    max: number,
    work: (db: DataSource, position: number) => Promise<void>,
  ) => {
    const db = await new DataSource({ ...dataSourceOptions(url), extra: { max } }).initialize();
    try {
      const marked = { type: 'Marked', schemaVersion: 1, data: { n: 9 } };
      const { events } = await append(uuidv4(), [marked], 'no_stream');
      await work(db, events[0].position);
    } finally {
      await db.destroy();
    }
  };

  it('rebuilds on a pool of one connection (reading each page on it)', async () => {
    await withPool(1, async (single, position) => {
      await runner(single).rebuild();
      expect(await marks()).toContain(position);
      const [{ last }] = (await other.query(`SELECT max(global_position)::int AS last FROM events`))
        .rows;
      expect(await checkpoint()).toBe(last);
    });
  });

  it('reads the log, and skips events it does not handle, with prepared statements', async () => {
    await withPool(1, async (single) => {
      /** The statements prepared on the pool's one connection. */
      const prepared = async () =>
        (
          (await single.query(`SELECT statement FROM pg_prepared_statements`)) as {
            statement: string;
          }[]
        ).map((p) => p.statement);
      const read = expect.stringMatching(/^SELECT .* FROM events\s+WHERE .*pg_snapshot_xmin/s);
      const skip = expect.stringMatching(/UPDATE projection_checkpoints .*pg_try_advisory/s);
      const r = runner(single);
      // A batch reads the log in its transaction.
      expect(await r.processBatch()).toBeGreaterThan(0);
      expect(await prepared()).toEqual([read]);
      // A skip reads it on the pool (prepared already), and moves the checkpoint.
      const ignored = { type: 'Ignored', schemaVersion: 1, data: { n: 1 } };
      const { events } = await append(uuidv4(), [ignored], 'no_stream');
      expect(await r.processBatch()).toBe(1);
      expect(await checkpoint()).toBe(events[0].position);
      expect(await prepared()).toEqual(expect.arrayContaining([read, skip]));
    });
  });

  it('gives up a connection whose prepared read the server no longer has', async () => {
    await withPool(1, async (single, position) => {
      // A batch prepares the read of the log on the pool's one connection.
      expect(await runner(single).processBatch()).toBeGreaterThan(0);
      // The server forgets it behind pg's back (as a pooler resetting sessions would).
      await single.query('DEALLOCATE ALL');
      const { events } = await append(
        uuidv4(),
        [{ type: 'Marked', schemaVersion: 1, data: { n: 2 } }],
        'no_stream',
      );
      // A runner reading in its batch's transaction fails once, and the connection goes.
      const r = runner(single);
      await expect(r.processBatch()).rejects.toMatchObject({ code: '26000' });
      expect(await r.processBatch()).toBe(1);
      expect(await marks()).toEqual(expect.arrayContaining([position, events[0].position]));
    });
  });

  it('does not count a statement the server lost towards parking the event', async () => {
    // With two attempts before parking, three failures of that kind would park a poison event.
    const r = runner(dataSource, { poisonAfterAttempts: 2 });
    const [marked] = (
      await append(uuidv4(), [{ type: 'Marked', schemaVersion: 1, data: { n: 3 } }], 'no_stream')
    ).events;
    lostStatements = 3;
    try {
      r.start();
      await until(async () => (await checkpoint()) >= marked.position, 'the runner to pass');
    } finally {
      await r.stop();
    }
    expect(lostStatements).toBe(0);
    expect(await marks()).toContain(marked.position);
    const { rows } = await other.query(
      `SELECT count(*)::int AS n FROM parked_events WHERE global_position = $1`,
      [marked.position],
    );
    expect(rows[0].n).toBe(0);
  });

  it('shows a batch whose handler does not settle as failing, until the batch ends', async () => {
    const { entered, release } = holdBatches();
    const r = runner(dataSource, { batchStuckAfterMs: 1_500 });
    const [marked] = (
      await append(uuidv4(), [{ type: 'Marked', schemaVersion: 1, data: { n: 4 } }], 'no_stream')
    ).events;
    try {
      r.start();
      await entered;
      expect(r.status).toBe('running');
      await until(async () => r.status === 'failing', 'the batch to be seen stuck');
      expect(r.lastError).toBe(
        'a batch has run for more than 1.5 s: a handler has not settled, or the database has not answered',
      );
      release();
      await until(async () => (await checkpoint()) >= marked.position, 'the batch to commit');
      await until(async () => r.status === 'running', 'the status after the batch');
      expect(r.lastError).toBeUndefined();
    } finally {
      release();
      await r.stop();
    }
    expect(await marks()).toContain(marked.position);
  });

  it('watches no batch with batchStuckAfterMs 0', async () => {
    const { entered, release } = holdBatches();
    const r = runner(dataSource, { batchStuckAfterMs: 0 });
    await append(uuidv4(), [{ type: 'Marked', schemaVersion: 1, data: { n: 7 } }], 'no_stream');
    try {
      r.start();
      await entered;
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(r.status).toBe('running');
      expect(r.lastError).toBeUndefined();
    } finally {
      release();
      await r.stop();
    }
  });

  it('still shows a stuck batch failing while a rebuild waits for it', async () => {
    const { release } = holdBatches();
    const r = runner(dataSource, { batchStuckAfterMs: 200 });
    await append(uuidv4(), [{ type: 'Marked', schemaVersion: 1, data: { n: 6 } }], 'no_stream');
    let rebuilt: Promise<void> | undefined;
    try {
      r.start();
      await until(async () => r.status === 'failing', 'the batch to be seen stuck');
      rebuilt = r.rebuild();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(r.status).toBe('failing');
      expect(r.isRebuilding).toBe(true);
      release();
      await rebuilt;
      await until(async () => r.status === 'running', 'the status after the rebuild');
    } finally {
      release();
      await rebuilt?.catch(() => undefined);
      await r.stop();
    }
  });

  it('is rebuilding from the moment a rebuild is asked, while it waits its turn', async () => {
    const r = runner();
    const [marked] = (
      await append(uuidv4(), [{ type: 'Marked', schemaVersion: 1, data: { n: 8 } }], 'no_stream')
    ).events;
    // A parked event, so that the retry asked first takes the lock (and waits for it).
    await other.query(
      `INSERT INTO parked_events (projection, global_position, stream_id, error, attempts)
       VALUES ('marks', $1, $2, 'parked by the test', 1)`,
      [marked.position, marked.streamId],
    );
    await other.query(`SELECT pg_advisory_lock(7265002, hashtext('marks'))`);
    let done: Promise<unknown>;
    try {
      done = Promise.all([r.retryParked(), r.rebuild()]);
      done.catch(() => undefined);
      expect(r.isRebuilding).toBe(true);
    } finally {
      await other.query(`SELECT pg_advisory_unlock(7265002, hashtext('marks'))`);
    }
    await done;
    expect(r.isRebuilding).toBe(false);
    expect(await marks()).toContain(marked.position);
  });

  it('runs the rebuilds and retries asked of it one at a time, holding one connection', async () => {
    await withPool(3, async (small, position) => {
      const r = runner(small);
      // Another session holds the projection's lock (as a stuck batch would).
      await other.query(`SELECT pg_advisory_lock(7265002, hashtext('marks'))`);
      let done: Promise<unknown>;
      try {
        // Run at once, the three rebuilds would hold the pool's three connections, all waiting.
        done = Promise.all([r.rebuild(), r.rebuild(), r.retryParked(), r.rebuild()]);
        // Awaited below: seen at once, so that a failure meanwhile is not an unhandled one.
        done.catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 200));
        const answered = await Promise.race([
          small.query('SELECT 1').then(() => 'answered'),
          new Promise((resolve) => setTimeout(() => resolve('waiting'), 3_000)),
        ]);
        expect(answered).toBe('answered');
      } finally {
        await other.query(`SELECT pg_advisory_unlock(7265002, hashtext('marks'))`);
      }
      await done;
      expect(await marks()).toContain(position);
    });
  });

  it('backs off longer after each failure in a row that is no fault of the events, woken or not', async () => {
    const r = runner();
    const [marked] = (
      await append(uuidv4(), [{ type: 'Marked', schemaVersion: 1, data: { n: 5 } }], 'no_stream')
    ).events;
    connectionLost = true;
    handlerCalls = 0;
    // Steady writes elsewhere wake it all the time.
    const waking = setInterval(() => r.wake(), 10);
    try {
      r.start();
      await new Promise((resolve) => setTimeout(resolve, 1_600));
      // Waits of 100, 200, 400 and 800 ms: five tries (a wait that stayed at 100 ms: sixteen; a
      // wait each wake cut short: a hundred or more).
      expect(handlerCalls).toBeGreaterThanOrEqual(2);
      expect(handlerCalls).toBeLessThanOrEqual(7);
      expect(r.status).toBe('failing');
      connectionLost = false;
      await until(async () => (await checkpoint()) >= marked.position, 'the runner to pass');
    } finally {
      clearInterval(waking);
      connectionLost = false;
      await r.stop();
    }
    expect(await marks()).toContain(marked.position);
  });

  it('takes whole batches again after an outage (no event is to blame)', async () => {
    const r = runner();
    const { events } = await append(
      uuidv4(),
      [1, 2, 3].map((n) => ({ type: 'Marked', schemaVersion: 1, data: { n } })),
      'no_stream',
    );
    const positions = events.map((e) => e.position);
    connectionLost = true;
    handlerCalls = 0;
    try {
      r.start();
      await until(async () => handlerCalls >= 2, 'two failed tries');
      applied.length = 0;
      connectionLost = false;
      await until(async () => (await checkpoint()) >= positions[2], 'the runner to pass');
    } finally {
      connectionLost = false;
      await r.stop();
    }
    // The three in one batch, not one batch each.
    expect(applied.find((batch) => batch.includes(positions[0]))).toEqual(
      expect.arrayContaining(positions),
    );
  });

  it("counts an event's failures apart from the outages before them", async () => {
    const r = runner(dataSource, { poisonAfterAttempts: 3 });
    const [poison] = (
      await append(
        uuidv4(),
        [{ type: 'Marked', schemaVersion: 1, data: { n: POISON } }],
        'no_stream',
      )
    ).events;
    const parked = async () =>
      (
        await other.query(
          `SELECT count(*)::int AS n FROM parked_events WHERE global_position = $1`,
          [poison.position],
        )
      ).rows[0].n === 1;
    connectionLost = true;
    try {
      r.start();
      // Five outages in a row (waits of 100 ms to 1.6 s), then the event's own failures.
      await new Promise((resolve) => setTimeout(resolve, 1_600));
      connectionLost = false;
      const since = performance.now();
      await until(parked, 'the event to be parked');
      // At most the outage's last wait, then 100 and 200 ms; backing off from the outages'
      // count, 3.2 s and 6.4 s more.
      expect(performance.now() - since).toBeLessThan(5_000);
    } finally {
      connectionLost = false;
      await r.stop();
    }
  });

  it('stays stopped after stopping on an event it cannot apply, rebuilt or not', async () => {
    const r = runner(dataSource, { onPoison: 'stop', poisonAfterAttempts: 1 });
    await append(
      uuidv4(),
      [{ type: 'Marked', schemaVersion: 1, data: { n: POISON } }],
      'no_stream',
    );
    try {
      r.start();
      await until(async () => r.status === 'stopped', 'the runner to stop on the event');
      expect(r.running).toBe(false);
      // The rebuild parks the event (a rebuild always does), and leaves nothing running.
      await r.rebuild();
      expect(r.status).toBe('stopped');
      expect(r.running).toBe(false);
    } finally {
      await r.stop();
    }
  });

  it('rebuilds while the pool is full of callers waiting for its lock', async () => {
    // Three rebuilds at once on a pool of three: the two waiting for the first one's lock hold
    // the other connections, so the first reads each page on its own.
    await withPool(3, async (small, position) => {
      await Promise.all([1, 2, 3].map(() => runner(small).rebuild()));
      expect(await marks()).toContain(position);
    });
  });

  it('ends a rebuild whose statement is cancelled, parking nothing and keeping the old rows', async () => {
    await append(uuidv4(), [{ type: 'Marked', schemaVersion: 1, data: { n: 11 } }], 'no_stream');
    const before = await marks();
    const parkedBefore = (await other.query(`SELECT count(*)::int AS n FROM parked_events`)).rows[0]
      .n;
    cancelled = true;
    try {
      await expect(runner().rebuild()).rejects.toMatchObject({ code: '57014' });
    } finally {
      cancelled = false;
    }
    expect(await marks()).toEqual(before);
    expect((await other.query(`SELECT count(*)::int AS n FROM parked_events`)).rows[0].n).toBe(
      parkedBefore,
    );
  });
});
