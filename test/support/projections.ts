import type { DataSource } from 'typeorm';
import type { GlobalLogProcessor, ProjectionInfo } from '../../src/event-sourcing/index.js';

/**
 * Polls `check` every `intervalMs` until it returns something other than undefined. Bounded: fails
 * with `what` (and the last value seen) after `timeoutMs`.
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  {
    what,
    timeoutMs = 20_000,
    intervalMs = 20,
  }: { what: string; timeoutMs?: number; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Polls `processor.list()` until every named projection shows lag 0 and status `running`. */
export async function waitUntilCaughtUp(
  processor: GlobalLogProcessor,
  names: string[],
  timeoutMs = 20_000,
): Promise<ProjectionInfo[]> {
  let last: ProjectionInfo[] = [];
  try {
    return await pollUntil(
      async () => {
        last = await processor.list();
        const done = names.every((name) => {
          const info = last.find((p) => p.name === name);
          return info?.lag === 0 && info.status === 'running';
        });
        return done ? last : undefined;
      },
      { what: `${names.join(', ')} to catch up`, timeoutMs },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last list(): ${JSON.stringify(last)}`, {
      cause: error,
    });
  }
}

/**
 * Polls `processor.list()` until every named projection has lag 0: every committed event applied
 * (or parked). Unlike waiting for the highest position, this also covers events of transactions
 * that took a lower position but committed later (the log is ordered by transaction first).
 */
export async function waitUntilNoLag(
  processor: GlobalLogProcessor,
  names: string[],
  timeoutMs = 60_000,
): Promise<ProjectionInfo[]> {
  return pollUntil(
    async () => {
      const list = await processor.list();
      return names.every((name) => list.find((p) => p.name === name)?.lag === 0) ? list : undefined;
    },
    { what: `${names.join(', ')} to have no lag`, timeoutMs },
  );
}

/** The account read tables, row by row, in primary-key order (as SELECT * gives them). */
export async function readTables(dataSource: DataSource) {
  return {
    summaries: await dataSource.query(`SELECT * FROM account_summaries ORDER BY account_id`),
    lines: await dataSource.query(`SELECT * FROM statement_lines ORDER BY account_id, version`),
    transfers: await dataSource.query(`SELECT * FROM transfer_summaries ORDER BY transfer_id`),
  };
}

/** The global position of each stream's last event: a read-your-writes token for that stream. */
export async function lastPositions(
  dataSource: DataSource,
  streamIds: string[],
): Promise<Map<string, number>> {
  const rows: { streamId: string; position: string }[] = await dataSource.query(
    `SELECT stream_id AS "streamId", max(global_position)::int8 AS position
     FROM events WHERE stream_id = ANY($1::text[]) GROUP BY stream_id`,
    [streamIds],
  );
  return new Map(rows.map((r) => [r.streamId, Number(r.position)]));
}

export interface ExpectedSummary {
  accountId: string;
  ownerId: string;
  currency: string;
  balance: number;
  status: 'open' | 'closed';
  version: number;
}

export interface ExpectedLine {
  accountId: string;
  version: number;
  type: 'credit' | 'debit';
  amount: number;
  balanceAfter: number;
  transferId: string | null;
}

/**
 * Folds every account stream of the event store (v2 events) into what the account-summary and
 * account-statement read models should hold, in primary-key order.
 */
export async function foldAccountStreams(
  dataSource: DataSource,
): Promise<{ summaries: ExpectedSummary[]; lines: ExpectedLine[] }> {
  const events: {
    streamId: string;
    version: number;
    type: string;
    data: Record<string, unknown>;
  }[] = await dataSource.query(
    `SELECT stream_id AS "streamId", version, type, data FROM events
       WHERE type IN ('AccountOpened', 'MoneyDeposited', 'MoneyWithdrawn', 'AccountClosed')
       ORDER BY stream_id, version`,
  );
  const summaries = new Map<string, ExpectedSummary>();
  const lines: ExpectedLine[] = [];
  for (const { streamId, version, type, data } of events) {
    if (type === 'AccountOpened') {
      const initialDeposit = Number(data.initialDeposit);
      summaries.set(streamId, {
        accountId: streamId,
        ownerId: String(data.ownerId),
        currency: String(data.currency),
        balance: initialDeposit,
        status: 'open',
        version,
      });
      if (initialDeposit > 0) {
        lines.push({
          accountId: streamId,
          version,
          type: 'credit',
          amount: initialDeposit,
          balanceAfter: initialDeposit,
          transferId: null,
        });
      }
      continue;
    }
    const summary = summaries.get(streamId);
    if (!summary) throw new Error(`${type} v${version} of ${streamId} comes before AccountOpened`);
    summary.version = version;
    if (type === 'AccountClosed') {
      summary.status = 'closed';
      continue;
    }
    const amount = Number(data.amount);
    const debit = type === 'MoneyWithdrawn';
    summary.balance += debit ? -amount : amount;
    lines.push({
      accountId: streamId,
      version,
      type: debit ? 'debit' : 'credit',
      amount,
      balanceAfter: summary.balance,
      transferId: typeof data.transferId === 'string' ? data.transferId : null,
    });
  }
  return {
    summaries: [...summaries.values()].sort(byAccountId),
    lines: lines.sort((a, b) => byAccountId(a, b) || a.version - b.version),
  };
}

/** The account-summary and account-statement read tables, in the shapes of {@link foldAccountStreams}. */
export async function readAccountModels(
  dataSource: DataSource,
): Promise<{ summaries: ExpectedSummary[]; lines: ExpectedLine[] }> {
  const summaries = await dataSource.query(
    `SELECT account_id AS "accountId", owner_id AS "ownerId", currency, balance::text AS balance, status, version
     FROM account_summaries ORDER BY account_id`,
  );
  const lines = await dataSource.query(
    `SELECT account_id AS "accountId", version, type, amount::text AS amount,
            balance_after::text AS "balanceAfter", transfer_id AS "transferId"
     FROM statement_lines ORDER BY account_id, version`,
  );
  return {
    summaries: summaries
      .map((s: ExpectedSummary) => ({ ...s, balance: Number(s.balance) }))
      .sort(byAccountId),
    lines: lines
      .map((l: ExpectedLine) => ({
        ...l,
        amount: Number(l.amount),
        balanceAfter: Number(l.balanceAfter),
      }))
      .sort((a: ExpectedLine, b: ExpectedLine) => byAccountId(a, b) || a.version - b.version),
  };
}

function byAccountId(a: { accountId: string }, b: { accountId: string }): number {
  return a.accountId < b.accountId ? -1 : a.accountId > b.accountId ? 1 : 0;
}

/** Runs `work` over `items` with at most `concurrency` in flight; resolves with the results in order. */
export async function mapConcurrently<T, R>(
  items: T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index], index);
      }
    }),
  );
  return results;
}
