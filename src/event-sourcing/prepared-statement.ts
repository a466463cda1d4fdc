import { createHash } from 'node:crypto';
import pg from 'pg';
import type { DataSource, EntityManager } from 'typeorm';

type Queryable = Pick<EntityManager, 'query'>;

/**
 * A statement run as a named prepared statement on the DataSource's own pg pool: PostgreSQL parses
 * and plans it once per connection instead of on every call, and TypeORM's per-query QueryRunner
 * is skipped. Inside a caller's transaction (an EntityManager) it runs through that manager.
 *
 * Not `pool.query`: it hands every error to the pool, which then closes the connection. An error
 * the server answered (an append's unique violation, under contention) leaves the connection
 * usable; closing it cost a new backend and its prepared statements on every conflict.
 */
export class PreparedStatement {
  private readonly name: string;

  constructor(readonly text: string) {
    this.name = `tally_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
  }

  async rows<R = Record<string, unknown>>(
    dataSource: DataSource,
    values: unknown[],
    db: Queryable = dataSource,
  ): Promise<R[]> {
    if (db !== dataSource) return db.query(this.text, values);
    const pool = (dataSource.driver as unknown as { master: pg.Pool }).master;
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      const result = await client.query({ name: this.name, text: this.text, values });
      return result.rows as R[];
    } catch (error) {
      // Only an ERROR ends the statement alone; anything else ends the connection too (a FATAL
      // from the server, a lost socket, a client-side timeout).
      if (!(error instanceof pg.DatabaseError && error.severity === 'ERROR'))
        broken = error as Error;
      throw error;
    } finally {
      client.release(broken);
    }
  }
}
