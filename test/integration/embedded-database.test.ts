/**
 * The embedded PostgreSQL server (the default without DATABASE_URL) stops without cutting off the
 * sessions of pools that have just closed: pg-pool's end() resolves before its connections have
 * ended, and a fast shutdown then terminated them ("terminating connection due to administrator
 * command", an error event on each client still open: `npm start` logged it at SIGTERM).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
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

  it('stops with this process when a signal ends it before it handles signals (Ctrl-C at start)', async () => {
    const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
    const child = spawn(
      join(root, 'node_modules', '.bin', 'tsx'),
      [join(root, 'test', 'support', 'embedded-start-only.ts'), join(dir, 'interrupted')],
      { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    let output = '';
    child.stdout.setEncoding('utf8');
    const started = new Promise<number>((done, fail) => {
      child.stdout.on('data', (chunk: string) => {
        output += chunk;
        const match = /server (\d+)/.exec(output);
        if (match) done(Number(match[1]));
      });
      void exited.then((code) => fail(new Error(`exited (${code}) before the server started`)));
    });
    const pid = await started;
    // A terminal's Ctrl-C: SIGINT to the whole group, of which the server is not.
    process.kill(-child.pid!, 'SIGINT');
    await exited;
    let alive = true;
    for (let i = 0; i < 100 && alive; i++) {
      try {
        process.kill(pid, 0);
        await new Promise((done) => setTimeout(done, 100));
      } catch {
        alive = false;
      }
    }
    expect(alive).toBe(false);
  }, 120_000);
});
