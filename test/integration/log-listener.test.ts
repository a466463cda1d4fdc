import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type pg from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import { LogListener } from '../../src/event-sourcing/processor/log-listener.js';
import { createTestDatabase } from '../support/database.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `done()` holds, or `ms` have passed. */
async function until(done: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await sleep(10);
}

/** The statements the listener sends on its connection from now on. */
function statementsSent(listener: LogListener): string[] {
  const client = (listener as unknown as { client: pg.Client }).client;
  const query = client.query.bind(client) as (text: string) => Promise<unknown>;
  const sent: string[] = [];
  (client as unknown as { query: (text: string) => Promise<unknown> }).query = (text) => {
    sent.push(text);
    return query(text);
  };
  return sent;
}

describe('LogListener', () => {
  let dataSource: DataSource;
  beforeAll(async () => {
    dataSource = await new DataSource(dataSourceOptions(await createTestDatabase())).initialize();
  });
  afterAll(() => dataSource.destroy());

  it('sends one NOTIFY at a time, and one after the last append, however slow each is', async () => {
    let heard = 0;
    const listener = new LogListener(dataSource, () => (heard += 1));
    await listener.start();
    try {
      const client = (listener as unknown as { client: pg.Client }).client;
      const query = client.query.bind(client) as (text: string) => Promise<unknown>;
      let inFlight = 0;
      let most = 0;
      const sentAt: number[] = [];
      // Each NOTIFY takes 30 ms, as under load.
      (client as unknown as { query: (text: string) => Promise<unknown> }).query = async (text) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        sentAt.push(performance.now());
        try {
          await sleep(30);
          return await query(text);
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
      await new Promise((resolve) => setImmediate(resolve));
      expect(sent).toEqual(['NOTIFY tally_events']);
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
      await new Promise((resolve) => setImmediate(resolve));
      expect(sent).toEqual(['NOTIFY tally_events']);
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
});
