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
 * that fails only the statement (an append's unique violation, under contention) leaves the
 * connection usable; closing it cost a new backend and its prepared statements on every conflict.
 */
export class PreparedStatement {
  private readonly name: string;

  constructor(readonly text: string) {
    this.name = statementName(text);
  }

  /**
   * The rows of the statement, run on a pooled connection; through `db` instead if it is a
   * caller's (a transaction's manager, or {@link preparedOn} a connection).
   */
  async rows<R = Record<string, unknown>>(
    dataSource: DataSource,
    values: unknown[],
    db: Queryable = dataSource,
  ): Promise<R[]> {
    if (db !== dataSource && db !== dataSource.manager) return db.query(this.text, values);
    const pool = (dataSource.driver as unknown as { master: pg.Pool }).master;
    const client = await pool.connect();
    let broken: Error | undefined;
    // The pool listens for errors of idle connections only: a socket lost during the statement
    // would otherwise be an unhandled 'error' event.
    const lost = (error: Error) => (broken ??= error);
    client.on('error', lost);
    try {
      const result = await client.query({ name: this.name, text: this.text, values });
      return result.rows as R[];
    } catch (error) {
      if (!failsStatementOnly(error)) broken ??= error as Error;
      throw error;
    } finally {
      client.removeListener('error', lost);
      client.release(broken);
    }
  }
}

/** Names of the statements seen: their texts are fixed, so this stays small. */
const names = new Map<string, string>();

/**
 * The name a statement of this text is prepared under, on every connection (hashed once per
 * text: batches ask for it on every read).
 */
export function statementName(text: string): string {
  let name = names.get(text);
  if (!name) {
    name = `tally_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    names.set(text, name);
  }
  return name;
}

/**
 * A connection a caller holds (in a transaction, say) as something to query, every statement run
 * as a named prepared statement. For statements of fixed text only (each text is prepared once per
 * connection and kept): the event store's and the processors' own, never SQL built per call.
 */
export function preparedOn(client: pg.ClientBase): Queryable {
  const query = async (text: string, values?: unknown[]) =>
    (await client.query({ name: statementName(text), text, values })).rows;
  return { query } as Queryable;
}

/**
 * The server no longer has a statement prepared on the connection (26000), or its plan's result
 * type changed (0A000, "cached plan must not change result type"): a fault of the connection's
 * state, which giving the connection up cures, not of the statement's data.
 */
export function lostPreparedStatement(error: unknown): boolean {
  if (!(error instanceof pg.DatabaseError)) return false;
  return error.code === '26000' || (error.code === '0A000' && /cached plan/.test(error.message));
}

/**
 * Errors that end the statement and leave its connection as it was: bad data (22), a constraint
 * (23), a lost race (40), a lock wait past `lock_timeout` (55P03: a batch of appends behind a
 * lock). Anything else (a lost socket, a FATAL, a prepared statement the server no longer has or
 * whose plan changed type) gives the connection up, as pool.query does.
 */
export function failsStatementOnly(error: unknown): boolean {
  const code = error instanceof pg.DatabaseError ? (error.code ?? '') : '';
  return ['22', '23', '40'].includes(code.slice(0, 2)) || code === '55P03';
}
