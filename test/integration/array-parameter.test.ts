import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { arrayParameter } from '../../src/event-sourcing/array-parameter.js';
import { createTestDatabase } from '../support/database.js';

// PostgreSQL reads what arrayParameter writes as it reads the array pg writes itself.
describe('arrayParameter, read by PostgreSQL', () => {
  let db: pg.Client;
  beforeAll(async () => {
    db = new pg.Client({ connectionString: await createTestDatabase() });
    await db.connect();
  });
  afterAll(() => db.end());

  it.each([
    ['SELECT $1::int[] AS a', [1, -2, 0, null, 2_147_483_647]],
    ['SELECT $1::bigint[]::float8[] AS a', [2 ** 53 - 1, -(2 ** 53 - 1), 0]],
    ['SELECT $1::float8[] AS a', [1.5, 1_764_200_000_123, -0.25]],
    ['SELECT $1::bool[] AS a', [true, false, null]],
    ['SELECT $1::uuid[] AS a', ['0d1e2f30-4a5b-4c6d-8e7f-901234567890', null]],
    ['SELECT $1::text[] AS a', ['credit', 'debit', 'a_b.c:d-e', '007', '1e3', 'Null', null]],
    ['SELECT $1::float8[] AS a', [1e21, 1e-7, -2.5e-3]],
    ['SELECT $1::text[] AS a', ['a,b', 'say "hi"', '', 'NULL', null]],
  ])('%s %j', async (sql, values) => {
    const read = async (parameter: unknown) => (await db.query(sql, [parameter])).rows[0].a;
    expect(await read(arrayParameter(values))).toEqual(await read(values));
    expect(await read(arrayParameter(values))).toEqual(values);
  });
});
