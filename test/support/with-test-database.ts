/**
 * Runs a command (the Jest suite, the benchmark) against a throw-away PostgreSQL database server
 * setup: TEST_DATABASE_URL or DATABASE_URL when set, otherwise an embedded server in a temporary
 * folder. Makes a migrated template database, passes TALLY_TEST_SERVER_URL and TALLY_TEST_RUN to
 * the command, and drops every database of the run afterwards.
 *
 *   tsx test/support/with-test-database.ts node node_modules/jest/bin/jest.js
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { ensureDatabase, withDatabase } from '../../src/database/database-admin.js';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import {
  startEmbeddedDatabase,
  type EmbeddedDatabase,
} from '../../src/database/embedded-database.js';
import { runMigrations } from '../../src/database/migrate.js';

async function dropRun(serverUrl: string, run: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE $1 || '%'",
      [run],
    );
    for (const { datname } of rows) {
      await client.query(
        'DROP DATABASE IF EXISTS ' + client.escapeIdentifier(datname) + ' WITH (FORCE)',
      );
    }
  } finally {
    await client.end();
  }
}

async function main(): Promise<number> {
  const [command, ...args] = process.argv.slice(2);
  if (!command) throw new Error('usage: with-test-database.ts <command> [args...]');
  let serverUrl = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
  let embedded: EmbeddedDatabase | undefined;
  let dir: string | undefined;
  if (!serverUrl) {
    dir = await mkdtemp(join(tmpdir(), 'tally-test-'));
    await chmod(dir, 0o755);
    embedded = await startEmbeddedDatabase({ dir: join(dir, 'pg'), fast: true });
    serverUrl = embedded.url;
  }
  const run = `tally_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
  try {
    const template = `${run}_template`;
    await ensureDatabase(serverUrl, template);
    const dataSource = await new DataSource(
      dataSourceOptions(withDatabase(serverUrl, template)),
    ).initialize();
    await runMigrations(dataSource);
    await dataSource.destroy();
    const child = spawn(command, args, {
      stdio: 'inherit',
      env: { ...process.env, TALLY_TEST_SERVER_URL: serverUrl, TALLY_TEST_RUN: run },
    });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward).on('SIGTERM', forward);
    return await new Promise<number>((resolve) =>
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))),
    );
  } finally {
    await dropRun(serverUrl, run).catch((error) =>
      console.error(`could not drop the test databases: ${error}`),
    );
    await embedded?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
