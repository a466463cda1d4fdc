import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type pg from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import pgModule from 'pg';
import {
  LogListener,
  OTHERS_KNOWN_FOR_MS,
} from '../../src/event-sourcing/processor/log-listener.js';
import { createTestDatabase } from '../support/database.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `done()` holds, or `ms` have passed. */
async function until(done: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await sleep(10);
}

type Query = (text: string, values?: unknown[]) => Promise<unknown>;

/** The statements the listener sends on its connection from now on. */
function statementsSent(listener: LogListener): string[] {
  const client = (listener as unknown as { client: pg.Client }).client;
  const query = client.query.bind(client) as Query;
  const sent: string[] = [];
  (client as unknown as { query: Query }).query = (text, values) => {
    sent.push(text);
    return query(text, values);
  };
  return sent;
}

/** The statement that NOTIFYs only if another process listens (and says whether one does). */
const LOOK_UP = expect.stringContaining('pg_stat_activity');

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** A plain session LISTENing on the channel: it counts the NOTIFYs it hears. */
async function eavesdropper(url: string) {
  const client = new pgModule.Client({ connectionString: url });
  await client.connect();
  await client.query('LISTEN tally_events');
  const heard = { count: 0 };
  client.on('notification', () => (heard.count += 1));
  return { heard, stop: () => client.end() };
}

describe('LogListener', () => {
  let dataSource: DataSource;
  beforeAll(async () => {
    dataSource = await new DataSource(dataSourceOptions(await createTestDatabase())).initialize();
  });
  afterAll(() => dataSource.destroy());

  /** Another process's listener, so that NOTIFYs have someone to wake. */
  let other: LogListener;
  beforeAll(async () => {
    other = new LogListener(dataSource, () => undefined);
    await other.start();
  });
  afterAll(() => other.stop());

  it('sends one NOTIFY at a time, and one after the last append, however slow each is', async () => {
    let heard = 0;
    const listener = new LogListener(dataSource, () => (heard += 1));
    await listener.start();
    try {
      const client = (listener as unknown as { client: pg.Client }).client;
      const query = client.query.bind(client) as Query;
      let inFlight = 0;
      let most = 0;
      const sentAt: number[] = [];
      // Each NOTIFY takes 30 ms, as under load.
      (client as unknown as { query: Query }).query = async (text, values) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        sentAt.push(performance.now());
        try {
          await sleep(30);
          return await query(text, values);
        } finally {
          inFlight -= 1;
        }
      };
      heard = 0;
      let lastAppend = 0;
      for (let i = 0; i < 50; i++) {
        listener.notify();
        lastAppend = performance.now();
        await sleep(3);
      }
      await sleep(150);
      expect(most).toBe(1);
      expect(sentAt.length).toBeGreaterThan(1);
      expect(sentAt.length).toBeLessThan(20);
      expect(sentAt[sentAt.length - 1]).toBeGreaterThan(lastAppend);
      // The process's appends woke its processors already: its own NOTIFYs come back unheard.
      expect(heard).toBe(0);
      // A NOTIFY is only a wake-up: its commit does not wait for the WAL flush.
      const shown = (await query('SHOW synchronous_commit')) as pg.QueryResult;
      expect(shown.rows).toEqual([{ synchronous_commit: 'off' }]);
    } finally {
      await listener.stop();
    }
  });

  it('sends the NOTIFY of the appends of one turn of the event loop on the next turn', async () => {
    const listener = new LogListener(dataSource, () => undefined);
    await listener.start();
    try {
      const sent = statementsSent(listener);
      listener.notify();
      listener.notify();
      expect(sent).toEqual([]);
      await nextTurn();
      // The first one looks up whether another process listens, and NOTIFYs it.
      expect(sent).toEqual([LOOK_UP]);
      await until(() => !(listener as unknown as { notifying: boolean }).notifying, 5_000);
      listener.notify();
      listener.notify();
      await nextTurn();
      // Within the second, the answer holds: a plain NOTIFY.
      expect(sent).toEqual([LOOK_UP, 'NOTIFY tally_events']);
    } finally {
      await listener.stop();
    }
  });

  it('notifies again after a stop and a start', async () => {
    const listener = new LogListener(dataSource, () => undefined);
    await listener.start();
    listener.notify();
    await listener.stop();
    await listener.start();
    try {
      const sent = statementsSent(listener);
      listener.notify();
      await nextTurn();
      // A new connection looks up the other processes again.
      expect(sent).toEqual([LOOK_UP]);
    } finally {
      await listener.stop();
    }
  });

  /** A listener, and another process's listener that NOTIFYs it. */
  async function pair() {
    const heard = { count: 0 };
    const listener = new LogListener(dataSource, () => (heard.count += 1));
    await listener.start();
    const other = new LogListener(dataSource, () => undefined);
    await other.start();
    return {
      listener,
      /** Whether the listener hears one NOTIFY of the other, within 5 s. */
      async hearsOther() {
        heard.count = 0;
        other.notify();
        await until(() => heard.count > 0, 5_000);
        return heard.count === 1;
      },
      async stop() {
        await other.stop();
        await listener.stop();
      },
    };
  }

  it("hears another process's NOTIFY", async () => {
    const { hearsOther, stop } = await pair();
    try {
      expect(await hearsOther()).toBe(true);
    } finally {
      await stop();
    }
  });

  it('listens again after losing its connection', async () => {
    const { listener, hearsOther, stop } = await pair();
    const backend = () =>
      (listener as unknown as { client?: pg.Client & { processID: number } }).client?.processID;
    try {
      const lost = backend();
      await dataSource.query('SELECT pg_terminate_backend($1)', [lost]);
      // It reconnects after a second.
      await until(() => backend() !== undefined && backend() !== lost, 10_000);
      expect(backend()).not.toBe(lost);
      expect(await hearsOther()).toBe(true);
    } finally {
      await stop();
    }
  });
  describe('whom it NOTIFYs', () => {
    let url: string;
    let own: DataSource;
    beforeAll(async () => {
      // A database of its own: no listener of the tests above can linger in it.
      url = await createTestDatabase();
      own = await new DataSource(dataSourceOptions(url)).initialize();
    });
    afterAll(() => own.destroy());

    it('sends no NOTIFY while no other process listens, and NOTIFYs one within a second of its start', async () => {
      const plain = await eavesdropper(url);
      const listener = new LogListener(own, () => undefined);
      await listener.start();
      let other: LogListener | undefined;
      try {
        const sent = statementsSent(listener);
        listener.notify();
        await nextTurn();
        expect(sent).toEqual([LOOK_UP]);
        await sleep(200);
        // A session that LISTENs without being a listener of the app does not count.
        expect(plain.heard.count).toBe(0);
        // Within the second, the answer holds: no statement at all.
        listener.notify();
        await nextTurn();
        expect(sent).toEqual([LOOK_UP]);

        const heard = { count: 0 };
        other = new LogListener(own, () => (heard.count += 1));
        await other.start();
        heard.count = 0;
        const started = performance.now();
        while (heard.count === 0 && performance.now() - started < 5_000) {
          listener.notify();
          await sleep(50);
        }
        expect(heard.count).toBeGreaterThan(0);
        expect(performance.now() - started).toBeLessThan(OTHERS_KNOWN_FOR_MS + 1_000);
        expect(plain.heard.count).toBeGreaterThan(0);
      } finally {
        await other?.stop();
        await listener.stop();
        await plain.stop();
      }
    });

    it('does not NOTIFY a process that runs no processors, nor its own peer thread', async () => {
      const plain = await eavesdropper(url);
      let peerPid = 0;
      const listener = new LogListener(own, () => undefined);
      const peer = new LogListener(
        own,
        () => undefined,
        (pid) => (peerPid = pid),
      );
      const heard = { count: 0 };
      const writeOnly = new LogListener(own, () => (heard.count += 1), undefined, false);
      await Promise.all([listener.start(), peer.start(), writeOnly.start()]);
      // Each wakes its processors once when it connects.
      heard.count = 0;
      try {
        listener.ignoreSender(peerPid);
        listener.notify();
        await sleep(300);
        expect(plain.heard.count).toBe(0);
        expect(heard.count).toBe(0);
        // The process without processors NOTIFYs those with them.
        writeOnly.notify();
        await until(() => plain.heard.count > 0, 5_000);
        expect(plain.heard.count).toBe(1);
      } finally {
        await Promise.all([listener.stop(), peer.stop(), writeOnly.stop()]);
        await plain.stop();
      }
    });
  });
});
