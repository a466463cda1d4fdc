import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type pg from 'pg';
import { ACCOUNT_SUMMARY } from '../../src/accounts/account-summary/account-summary.projection.js';
import { ACCOUNT_STATEMENT } from '../../src/accounts/statement/statement.projection.js';
import { EventStore, GlobalLogProcessor } from '../../src/event-sourcing/index.js';
import { freshDatabase, startApp } from '../lib/database.js';
import { nextEvents } from '../lib/events.js';
import type { Profile } from '../lib/profile.js';
import { ratioRow, type Row } from '../lib/report.js';
import { interleave, median, parallel, since } from '../lib/stats.js';

const REBUILD_TIMEOUT_MS = 30 * 60_000;
const MIN_EVENTS_PER_SECOND = 20_000;
/** The tables the rebuilt projections write. */
const VACUUM_READ_TABLES = 'VACUUM account_summaries, statement_lines';
/** The page a rebuild reads (the default `rebuildPageSize`): the raw read uses the same. */
const BATCH = 20_000;

// The same columns and order as the processor's read (recorded_at as milliseconds, as the store
// selects it, so the driver does not parse its text), without the snapshot fence.
const KEYSET = `SELECT event_id AS "eventId", stream_id AS "streamId", version, global_position AS "position",
  type, schema_version AS "schemaVersion", data, metadata,
  floor(extract(epoch FROM recorded_at) * 1000)::float8 AS "recordedAt",
  transaction_id::text AS "transactionId"
  FROM events WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
  ORDER BY transaction_id, global_position LIMIT $3`;

// Diagnostic: the statement's lines written by PostgreSQL alone, from the log, in one statement
// (no Node, no pages, no upcasting) after a DELETE of them in the same transaction, as a rebuild
// does: what writing that table costs the database. Rolled back.
const STATEMENT_BY_SQL = `INSERT INTO statement_lines
    (account_id, version, type, amount, balance_after, occurred_at, transfer_id)
  SELECT (data->>'accountId')::uuid, version,
    CASE type WHEN 'MoneyWithdrawn' THEN 'debit' ELSE 'credit' END, amount,
    sum(CASE type WHEN 'MoneyWithdrawn' THEN -amount ELSE amount END)
      OVER (PARTITION BY stream_id ORDER BY version),
    recorded_at, (data->>'transferId')::uuid
  FROM (SELECT *, coalesce(data->>'amount', data->>'initialDeposit')::bigint AS amount FROM events
        WHERE type IN ('AccountOpened', 'MoneyDeposited', 'MoneyWithdrawn')) AS e
  WHERE amount <> 0`;

/** STATEMENT_BY_SQL after a DELETE of every line, in one transaction, rolled back: lines/s. */
async function statementBySql(raw: pg.Pool, lines: number): Promise<number> {
  await raw.query(VACUUM_READ_TABLES);
  const client = await raw.connect();
  try {
    const start = performance.now();
    await client.query('BEGIN');
    await client.query('DELETE FROM statement_lines');
    const { rowCount } = await client.query(STATEMENT_BY_SQL);
    await client.query('ROLLBACK');
    const ms = since(start);
    if (rowCount !== lines) throw new Error(`SQL wrote ${rowCount} lines, expected ${lines}`);
    return (lines / ms) * 1000;
  } finally {
    client.release();
  }
}

/** Reads the whole log in keyset pages with one raw client; returns events/s. */
async function rawKeysetRead(raw: pg.Pool, total: number): Promise<number> {
  const client = await raw.connect();
  try {
    const start = performance.now();
    let after = { transactionId: '0', position: '0' };
    let read = 0;
    for (;;) {
      const { rows } = await client.query(KEYSET, [after.transactionId, after.position, BATCH]);
      if (rows.length === 0) break;
      read += rows.length;
      after = rows[rows.length - 1];
    }
    const ms = since(start);
    if (read !== total) throw new Error(`keyset read ${read} events, expected ${total}`);
    return (total / ms) * 1000;
  } finally {
    client.release();
  }
}

/**
 * Seeds `accounts` streams of `perAccount` events, as a bank's log is: one event per append,
 * round after round over all the accounts (16 writers), so the accounts interleave in the log. A
 * log of one append per account (each account's events together) hid what a rebuild costs when
 * every page touches most accounts: "Night of 2026-12-07" in the README.
 */
async function seed(app: INestApplication, accounts: number, perAccount: number): Promise<void> {
  const store = app.get(EventStore);
  const ids = Array.from({ length: accounts }, () => randomUUID());
  for (let version = 0; version < perAccount; version++) {
    await parallel(16, async (w) => {
      for (let i = w; i < ids.length; i += 16) {
        const expected = version === 0 ? 'no_stream' : version - 1;
        await store.append(ids[i], nextEvents(ids[i], version - 1, 1), expected);
      }
    });
  }
}

/** Checks the read models hold the fold of the log and the projections report no lag. */
async function verify(
  app: INestApplication,
  raw: pg.Pool,
  names: string[],
  expect: { accounts: number; balance: number; lines: number },
) {
  const [summary] = (
    await raw.query(
      `SELECT count(*)::int AS n, coalesce(sum(balance), 0)::float8 AS total FROM account_summaries`,
    )
  ).rows;
  const [lines] = (await raw.query(`SELECT count(*)::int AS n FROM statement_lines`)).rows;
  const info = await app.get(GlobalLogProcessor).list();
  const lagging = info.filter((p) => names.includes(p.name) && (p.lag !== 0 || p.parked));
  const ok =
    (!names.includes(ACCOUNT_SUMMARY) ||
      (summary.n === expect.accounts && summary.total === expect.balance)) &&
    (!names.includes(ACCOUNT_STATEMENT) || lines.n === expect.lines) &&
    lagging.length === 0;
  if (!ok) {
    throw new Error(
      `read models wrong after rebuild of ${names.join(', ')}: ${JSON.stringify({ summary, lines, expect, lagging })}`,
    );
  }
}

/**
 * Workload 5: rebuild the account read models from the log (GlobalLogProcessor.rebuild, then
 * wait until the projection has applied the last event), beside a raw keyset read of that log.
 */
export async function projectionWorkload(profile: Profile): Promise<Row[]> {
  const { accounts, eventsPerAccount } = profile.projection;
  const total = accounts * eventsPerAccount;
  const expect = { accounts, balance: accounts * (100 + eventsPerAccount - 1), lines: total };
  const db = await freshDatabase();
  const seeder = await startApp(db.url, { runProcessors: false });
  try {
    await seed(seeder, accounts, eventsPerAccount);
  } finally {
    await seeder.close();
  }
  await db.raw.query('ANALYZE');
  const [{ last }] = (await db.raw.query(`SELECT max(global_position)::float8 AS last FROM events`))
    .rows;
  // The processors start from their empty checkpoints: that first catch-up (every projection
  // of the app at once, app start included) is the warm-up.
  const bootedAt = performance.now();
  const app = await startApp(db.url);
  const processor = app.get(GlobalLogProcessor);
  const names = [ACCOUNT_SUMMARY, ACCOUNT_STATEMENT];
  try {
    for (const name of names) await processor.waitForPosition(name, last, REBUILD_TIMEOUT_MS);
    const firstCatchUp = (total / since(bootedAt)) * 1000;
    await verify(app, db.raw, names, expect);
    await rawKeysetRead(db.raw, total);

    const rebuild = async (name: string) => {
      // Untimed: the dead rows of the previous rebuilds go first, as autovacuum would have
      // removed them between two rebuilds in production (back to back, it has no time to).
      await db.raw.query(VACUUM_READ_TABLES);
      const start = performance.now();
      await processor.rebuild(name);
      await processor.waitForPosition(name, last, REBUILD_TIMEOUT_MS);
      const ms = since(start);
      await verify(app, db.raw, [name], expect);
      return (total / ms) * 1000;
    };
    const values = await interleave(
      { runs: profile.runs, warmups: 0 },
      {
        raw: () => rawKeysetRead(db.raw, total),
        summary: () => rebuild(ACCOUNT_SUMMARY),
        statement: () => rebuild(ACCOUNT_STATEMENT),
        statementBySql: () => statementBySql(db.raw, expect.lines),
      },
    );

    const baseline = median(values.raw);
    const row = (workload: string, runs: number[], notes: string): Row => {
      const r = ratioRow({
        workload,
        unit: 'events/s',
        ours: median(runs),
        baseline,
        baselineLabel: 'raw keyset',
        runs,
        baselineRuns: values.raw,
        notes,
      });
      const met = r.ratio! >= 0.5 && r.ours >= MIN_EVENTS_PER_SECOND;
      return { ...r, target: `>= 0.5x, >= ${MIN_EVENTS_PER_SECOND / 1000}k/s`, met };
    };
    const of = `${total.toLocaleString('en-US')} events (${accounts} accounts x ${eventsPerAccount})`;
    return [
      row(
        `5 rebuild ${ACCOUNT_SUMMARY}`,
        values.summary,
        `rebuild() then wait for the last event; ${of}; first catch-up of all projections at start: ${firstCatchUp.toFixed(0)} events/s`,
      ),
      row(`5 rebuild ${ACCOUNT_STATEMENT}`, values.statement, `the same; ${of}`),
      ratioRow({
        workload: "5 diag: the statement's lines by SQL alone",
        unit: 'events/s',
        ours: median(values.statementBySql),
        baseline,
        baselineLabel: 'raw keyset',
        runs: values.statementBySql,
        baselineRuns: values.raw,
        notes:
          'diagnostic: PostgreSQL alone writes the same lines from the log (one INSERT ... SELECT with a window for the running balance, no Node, no pages, no upcasting) after deleting them, in one transaction, rolled back: what writing that table costs the database, beside the read',
      }),
    ];
  } finally {
    await app.close();
    await db.close();
  }
}
