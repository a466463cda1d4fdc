import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { Account } from '../../src/accounts/domain/account.aggregate.js';
import {
  AggregateRepository,
  ConcurrencyError,
  EventStore,
} from '../../src/event-sourcing/index.js';
import { freshDatabase, startApp } from '../lib/database.js';
import { accountOpened, moneyDeposited, rawInsert } from '../lib/events.js';
import type { Profile } from '../lib/profile.js';
import { ratioRow, type Row } from '../lib/report.js';
import { interleave, median, parallel, since } from '../lib/stats.js';

const UNIQUE_VIOLATION = '23505';

/** Each deposit's amount names its writer and sequence number, so the stream can be audited. */
const amountOf = (writer: number, seq: number) => writer * 1_000_000 + seq + 1;

interface Outcome {
  perSecond: number;
  conflicts: number;
  /** Amounts of the deposits the writers were told succeeded. */
  acknowledged: number[];
  gaveUp: number;
}

/** No lost event, no duplicate, no phantom: versions 0..n-1, deposits = the acknowledged ones. */
function audit(label: string, rows: { version: number; amount: number }[], acknowledged: number[]) {
  const versionsOk = rows.every((r, i) => r.version === i);
  const amounts = rows.slice(1).map((r) => r.amount);
  const unique = new Set(amounts);
  const expected = new Set(acknowledged);
  const same = unique.size === expected.size && [...expected].every((a) => unique.has(a));
  if (!versionsOk || unique.size !== amounts.length || !same) {
    throw new Error(
      `${label}: stream audit failed (${rows.length} rows, ${unique.size} distinct deposits, ${expected.size} acknowledged, versions contiguous: ${versionsOk})`,
    );
  }
}

/**
 * `writers` concurrent writers on one stream, each making `perWriter` successful appends: it
 * appends at the version it believes is next and, on a conflict, learns the head and retries.
 */
async function contend(
  writers: number,
  perWriter: number,
  timeoutMs: number,
  attempt: (writer: number, seq: number) => Promise<'ok' | 'conflict'>,
): Promise<Outcome> {
  let conflicts = 0;
  let gaveUp = 0;
  const acknowledged: number[] = [];
  const deadline = Date.now() + timeoutMs;
  const start = performance.now();
  await parallel(writers, async (w) => {
    for (let seq = 0; seq < perWriter; seq++) {
      for (let tries = 0; ; tries++) {
        if (Date.now() > deadline || tries > 10_000) {
          gaveUp += 1;
          break;
        }
        const result = await attempt(w, seq);
        if (result === 'ok') {
          acknowledged.push(amountOf(w, seq));
          break;
        }
        conflicts += 1;
      }
    }
  });
  const ms = since(start);
  return { perSecond: (acknowledged.length / ms) * 1000, conflicts, acknowledged, gaveUp };
}

async function rawStream(raw: pg.Pool, streamId: string) {
  const { rows } = await raw.query<{ version: number; amount: number }>(
    `SELECT version, coalesce((data->>'amount')::bigint, 0)::float8 AS amount FROM raw_events WHERE stream_id = $1 ORDER BY version`,
    [streamId],
  );
  return rows;
}

async function storeStream(raw: pg.Pool, streamId: string) {
  const { rows } = await raw.query<{ version: number; amount: number }>(
    `SELECT version, coalesce((data->>'amount')::bigint, 0)::float8 AS amount FROM events WHERE stream_id = $1 ORDER BY version`,
    [streamId],
  );
  return rows;
}

/** Workload 3: 16 writers on one stream with retries; conflicts counted, the stream audited. */
export async function contendedWorkload(profile: Profile): Promise<Row[]> {
  const { writers, appendsPerWriter, runTimeoutMs } = profile.contended;
  const db = await freshDatabase();
  // Processors off: this measures the write path alone.
  const app = await startApp(db.url, { runProcessors: false });
  const store = app.get(EventStore);
  const repository = app.get(AggregateRepository);
  const conflicts = { raw: [] as number[], store: [] as number[], command: [] as number[] };
  const gaveUp = { raw: 0, store: 0, command: 0 };
  // Count the ConcurrencyErrors the repository's own retries hide (instrumentation only).
  let commandConflicts = 0;
  const append = store.append.bind(store);
  store.append = async (...args) => {
    try {
      return await append(...args);
    } catch (error) {
      if (error instanceof ConcurrencyError) commandConflicts += 1;
      throw error;
    }
  };
  try {
    const values = await interleave(profile, {
      raw: async (round) => {
        const id = randomUUID();
        await db.raw.query(rawInsert(id, 0, [accountOpened(id)]));
        const believed = Array.from({ length: writers }, () => 0);
        const outcome = await contend(writers, appendsPerWriter, runTimeoutMs, async (w, seq) => {
          const event = moneyDeposited(id, amountOf(w, seq));
          try {
            await db.raw.query(rawInsert(id, believed[w] + 1, [event]));
            believed[w] += 1;
            return 'ok';
          } catch (error) {
            if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
            const { rows } = await db.raw.query<{ v: number }>(
              `SELECT max(version) AS v FROM raw_events WHERE stream_id = $1`,
              [id],
            );
            believed[w] = rows[0].v;
            return 'conflict';
          }
        });
        audit('raw pg', await rawStream(db.raw, id), outcome.acknowledged);
        if (round >= profile.warmups)
          conflicts.raw.push(outcome.conflicts / outcome.acknowledged.length);
        gaveUp.raw += outcome.gaveUp;
        return outcome.perSecond;
      },
      store: async (round) => {
        const id = randomUUID();
        await store.append(id, [accountOpened(id)], 'no_stream');
        const believed = Array.from({ length: writers }, () => 0);
        const outcome = await contend(writers, appendsPerWriter, runTimeoutMs, async (w, seq) => {
          try {
            const event = moneyDeposited(id, amountOf(w, seq));
            believed[w] = (await store.append(id, [event], believed[w])).version;
            return 'ok';
          } catch (error) {
            if (!(error instanceof ConcurrencyError)) throw error;
            believed[w] = error.actual ?? (await store.streamVersion(id));
            return 'conflict';
          }
        });
        audit('EventStore', await storeStream(db.raw, id), outcome.acknowledged);
        if (round >= profile.warmups)
          conflicts.store.push(outcome.conflicts / outcome.acknowledged.length);
        gaveUp.store += outcome.gaveUp;
        return outcome.perSecond;
      },
      command: async (round) => {
        const id = randomUUID();
        await store.append(id, [accountOpened(id)], 'no_stream');
        commandConflicts = 0;
        const outcome = await contend(writers, appendsPerWriter, runTimeoutMs, async (w, seq) => {
          try {
            await repository.execute(Account, id, (a) => a.deposit(amountOf(w, seq)), {
              metadata: { commandId: randomUUID(), correlationId: 'bench' },
            });
            return 'ok';
          } catch (error) {
            // The repository's retries ran out: the caller retries the whole command.
            if (!(error instanceof ConcurrencyError)) throw error;
            return 'conflict';
          }
        });
        await repository.flushSnapshots();
        audit('AggregateRepository', await storeStream(db.raw, id), outcome.acknowledged);
        if (round >= profile.warmups)
          conflicts.command.push(commandConflicts / outcome.acknowledged.length);
        gaveUp.command += outcome.gaveUp;
        return outcome.perSecond;
      },
    });
    const audited = 'audited: versions contiguous, no duplicate, no lost, no phantom event';
    const baseline = median(values.raw);
    const incomplete = gaveUp.raw + gaveUp.store + gaveUp.command;
    return [
      ratioRow({
        workload: '3 contended, EventStore.append + retry',
        unit: 'appends/s',
        ours: median(values.store),
        baseline,
        baselineLabel: 'raw pg',
        runs: values.store,
        baselineRuns: values.raw,
        notes: `${writers} writers x ${appendsPerWriter} appends on one stream, exact expected version, on conflict read the head and retry; ${audited}`,
      }),
      ratioRow({
        workload: '3 contended, conflicts per append',
        unit: '',
        ours: median(conflicts.store),
        baseline: median(conflicts.raw),
        baselineLabel: 'raw pg',
        runs: conflicts.store,
        baselineRuns: conflicts.raw,
      }),
      ratioRow({
        workload: '3 contended, AggregateRepository.execute',
        unit: 'appends/s',
        ours: median(values.command),
        baseline,
        baselineLabel: 'raw pg',
        runs: values.command,
        baselineRuns: values.raw,
        notes: `the command path: load (snapshot + tail), decide, append; its own jittered retries. Conflicts per append: ${median(conflicts.command).toFixed(2)}. ${audited}`,
      }),
      {
        workload: '3 contended, audit (all runs)',
        unit: 'failed',
        ours: incomplete,
        target: 'no dup/lost, all done',
        met: incomplete === 0,
        notes: `every run's stream audited (an audit failure aborts the workload); writers that gave up (timeout or 10,000 tries): ${JSON.stringify(gaveUp)}`,
      },
    ];
  } finally {
    store.append = append;
    await app.close();
    await db.close();
  }
}
