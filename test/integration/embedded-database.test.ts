/**
 * The embedded PostgreSQL server (the default without DATABASE_URL) stops without cutting off the
 * sessions of pools that have just closed: pg-pool's end() resolves before its connections have
 * ended, and a fast shutdown then terminated them ("terminating connection due to administrator
 * command", an error event on each client still open: `npm start` logged it at SIGTERM).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import {
  startEmbeddedDatabase,
  type EmbeddedDatabase,
} from '../../src/database/embedded-database.js';

describe('the embedded database', () => {
  let dir: string;
  let server: EmbeddedDatabase | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tally-embedded-'));
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('stops right after a pool has closed, without terminating its sessions', async () => {
    const errors: string[] = [];
    for (let round = 0; round < 3; round++) {
      server = await startEmbeddedDatabase({ dir: join(dir, 'pg'), fast: true });
      const pool = new pg.Pool({ connectionString: server.url, max: 8 });
      // Errors of idle clients reach the pool; of clients in use, the clients.
      pool.on('error', (error) => errors.push(error.message));
      pool.on('connect', (client) => client.on('error', (error) => errors.push(error.message)));
      await Promise.all(Array.from({ length: 8 }, () => pool.query('SELECT pg_sleep(0.01)')));
      expect(pool.idleCount).toBe(8);
      await pool.end();
      await server.stop();
      const url = server.url;
      server = undefined;
      // Stopped: it takes no connection.
      const after = new pg.Client({ connectionString: url });
      await expect(after.connect()).rejects.toThrow(/ECONNREFUSED/);
    }
    expect(errors).toEqual([]);
  }, 120_000);
});
