import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { withDatabase } from '../../src/database/database-admin.js';

/**
 * A fresh, migrated database for one test file (a copy of the run's template); with `empty`, a
 * database with no tables at all (for a test that runs its own migrations). Dropped after the run.
 */
export async function createTestDatabase({ empty = false } = {}): Promise<string> {
  const serverUrl = process.env.TALLY_TEST_SERVER_URL;
  const run = process.env.TALLY_TEST_RUN;
  if (!serverUrl || !run)
    throw new Error('run the tests with npm test (jest globalSetup makes the database)');
  const name = `${run}_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(
          'CREATE DATABASE ' +
            client.escapeIdentifier(name) +
            ' TEMPLATE ' +
            client.escapeIdentifier(empty ? 'template0' : `${run}_template`),
        );
        break;
      } catch (error) {
        // Two workers copying the template at the same instant: the second one waits and retries.
        if ((error as { code?: string }).code !== '55006' || attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      }
    }
  } finally {
    await client.end();
  }
  return withDatabase(serverUrl, name);
}
