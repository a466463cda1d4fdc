import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { DataSource, EntityManager } from 'typeorm';

type Queryable = Pick<EntityManager, 'query'>;

/**
 * A statement run as a named prepared statement on the DataSource's own pg pool: PostgreSQL parses
 * and plans it once per connection instead of on every call, and TypeORM's per-query QueryRunner
 * is skipped. Inside a caller's transaction (an EntityManager) it runs through that manager.
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
    const result = await pool.query({ name: this.name, text: this.text, values });
    return result.rows as R[];
  }
}
