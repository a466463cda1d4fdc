import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type pg from 'pg';
import { DataSource } from 'typeorm';
import { v4 as uuidv4 } from 'uuid';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import { ConcurrencyError, EventStore } from '../../src/event-sourcing/index.js';
import { PreparedStatement } from '../../src/event-sourcing/prepared-statement.js';
import { createTestDatabase } from '../support/database.js';

describe('PreparedStatement', () => {
  let dataSource: DataSource;
  let pool: pg.Pool;
  const backend = new PreparedStatement('SELECT pg_backend_pid() AS pid, 1 / $1::int AS q');
  const pid = async () => (await backend.rows<{ pid: number }>(dataSource, [1]))[0].pid;

  beforeAll(async () => {
    const options = dataSourceOptions(await createTestDatabase());
    // One connection: every statement runs on it, unless the pool closes it.
    dataSource = await new DataSource({
      ...options,
      extra: { max: 1 },
    } as typeof options).initialize();
    pool = (dataSource.driver as unknown as { master: pg.Pool }).master;
  });
  afterAll(() => dataSource.destroy());

  it('keeps its connection after an error that fails only the statement', async () => {
    const before = await pid();
    await expect(backend.rows(dataSource, [0])).rejects.toMatchObject({ code: '22012' });
    expect(await pid()).toBe(before);
    expect(pool.totalCount).toBe(1);
  });

  it('keeps its connection when an append loses to another writer', async () => {
    const store = new EventStore(dataSource);
    const happened = { type: 'Happened', schemaVersion: 1, data: {}, eventId: uuidv4() };
    await store.append(uuidv4(), [happened], 'no_stream');
    const before = await pid();
    // The same event id in another stream: the unique index refuses it.
    await expect(store.append(uuidv4(), [happened], 'no_stream')).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    expect(await pid()).toBe(before);
    expect(pool.totalCount).toBe(1);
  });

  it('gives up a connection the server ended, and goes on with a new one', async () => {
    const before = await pid();
    const terminate = new PreparedStatement('SELECT pg_terminate_backend(pg_backend_pid())');
    await expect(terminate.rows(dataSource, [])).rejects.toMatchObject({ code: '57P01' });
    expect(pool.totalCount).toBe(0);
    expect(await pid()).not.toBe(before);
  });

  it('gives up a connection whose socket is lost during the statement', async () => {
    const before = await pid();
    const sleeper = new PreparedStatement('SELECT pg_sleep(0.5)');
    const running = sleeper.rows(dataSource, []);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [client] = (pool as unknown as { _clients: pg.Client[] })._clients;
    const socket = (client as unknown as { connection: { stream: { destroy(e: Error): void } } })
      .connection.stream;
    socket.destroy(new Error('socket lost'));
    await expect(running).rejects.toThrow('socket lost');
    expect(pool.totalCount).toBe(0);
    expect(await pid()).not.toBe(before);
  });

  it('gives up a connection that lost its prepared statements (DEALLOCATE, DISCARD ALL)', async () => {
    const before = await pid();
    await new PreparedStatement('DEALLOCATE ALL').rows(dataSource, []);
    // The driver still takes the statement for prepared on that connection: it fails once...
    await expect(pid()).rejects.toMatchObject({ code: '26000' });
    // ...and the pool gives the connection up, instead of failing every call on it.
    expect(pool.totalCount).toBe(0);
    expect(await pid()).not.toBe(before);
  });
});
