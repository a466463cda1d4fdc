import { randomUUID } from 'node:crypto';
import { Account } from '../../src/accounts/domain/account.aggregate.js';
import { AggregateRepository, EventStore, SnapshotStore } from '../../src/event-sourcing/index.js';
import { freshDatabase, startApp } from '../lib/database.js';
import { nextEvents } from '../lib/events.js';
import type { Profile } from '../lib/profile.js';
import { ratioRow, type Row } from '../lib/report.js';
import { interleave, median, since } from '../lib/stats.js';

const BATCH = 1_000;

/** Appends `count` account events (AccountOpened, then deposits of 1) in batches of 1,000. */
async function fill(store: EventStore, id: string, from: number, count: number): Promise<number> {
  let version = from;
  for (let done = 0; done < count;) {
    const n = Math.min(BATCH, count - done);
    version = (await store.append(id, nextEvents(id, version, n), version)).version;
    done += n;
  }
  return version;
}

const format = (n: number) => n.toLocaleString('en-US');

/**
 * Workload 4: AggregateRepository.load(Account) of streams of 10 to 100,000 events, without a
 * snapshot (full replay) and with one. Per size: a stream with no snapshot, a stream with a
 * snapshot at its head (none below snapshotEvery events, as the policy does), and (the worst
 * case of the SNAPSHOT_EVERY policy) one whose snapshot is snapshotEvery-1 events behind the
 * head. Baseline of the full replays: a raw `pg` read of the same rows.
 */
export async function loadWorkload(profile: Profile): Promise<Row[]> {
  const { sizes, snapshotEvery, loadsPerRun } = profile.load;
  const db = await freshDatabase();
  const app = await startApp(db.url, { runProcessors: false }, snapshotEvery);
  try {
    const store = app.get(EventStore);
    const snapshots = app.get(SnapshotStore);
    const repository = app.get(AggregateRepository);

    /** Writes the snapshot the repository would take: the aggregate's own toSnapshot(). */
    const snapshot = async (id: string) => {
      const account = await repository.load(Account, id);
      await snapshots.save({
        streamId: id,
        version: account.version,
        position: account.position,
        revision: Account.snapshotRevision,
        state: account.toSnapshot(),
      });
    };

    const streams = [];
    for (const size of sizes) {
      const plain = randomUUID();
      const head = randomUUID();
      const behind = randomUUID();
      const tail = Math.min(snapshotEvery - 1, size - 1);
      await fill(store, plain, -1, size);
      await fill(store, head, -1, size);
      // The policy takes no snapshot of a stream shorter than snapshotEvery: nor do we.
      if (size >= snapshotEvery) await snapshot(head);
      const at = await fill(store, behind, -1, size - tail);
      if (size >= snapshotEvery) await snapshot(behind);
      await fill(store, behind, at, tail);
      streams.push({ size, plain, head, behind, tail });
    }
    // Planner statistics as a long-lived database has them (autovacuum would analyze anytime).
    await db.raw.query('ANALYZE');

    const loadMs = async (id: string, size: number, times: number) => {
      const start = performance.now();
      for (let i = 0; i < times; i++) {
        const account = await repository.load(Account, id);
        if (account.version !== size - 1) throw new Error(`loaded ${id} at ${account.version}`);
      }
      return since(start) / times;
    };
    const rawMs = async (id: string, times: number) => {
      const start = performance.now();
      for (let i = 0; i < times; i++) {
        await db.raw.query(
          `SELECT event_id, stream_id, version, global_position, type, schema_version, data, metadata, recorded_at
           FROM events WHERE stream_id = $1 ORDER BY version`,
          [id],
        );
      }
      return since(start) / times;
    };

    const cases: Record<string, () => Promise<number>> = {};
    for (const s of streams) {
      const full = loadsPerRun(s.size);
      const cheap = loadsPerRun(Math.min(s.size, 10 + snapshotEvery));
      cases[`raw ${s.size}`] = () => rawMs(s.plain, full);
      cases[`plain ${s.size}`] = () => loadMs(s.plain, s.size, full);
      cases[`head ${s.size}`] = () => loadMs(s.head, s.size, cheap);
      cases[`behind ${s.size}`] = () => loadMs(s.behind, s.size, cheap);
    }
    const values = await interleave(profile, cases);

    const smallest = streams[0].size;
    const reference = median(values[`head ${smallest}`]);
    const largest = streams[streams.length - 1].size;
    const rows: Row[] = [];
    for (const s of streams) {
      rows.push(
        ratioRow({
          workload: `4 load ${format(s.size)} events, no snapshot`,
          unit: 'ms',
          ours: median(values[`plain ${s.size}`]),
          baseline: median(values[`raw ${s.size}`]),
          baselineLabel: 'raw SELECT',
          runs: values[`plain ${s.size}`],
          baselineRuns: values[`raw ${s.size}`],
          notes: 'full replay: read, upcast, fold; baseline reads the same rows with pg',
        }),
      );
    }
    for (const s of streams) {
      const row = {
        workload: `4 load ${format(s.size)} events, ${s.size >= snapshotEvery ? 'snapshot at head' : 'snapshots on (none)'}`,
        unit: 'ms',
        ours: median(values[`head ${s.size}`]),
        baseline: reference,
        baselineLabel: `${smallest} events`,
        runs: values[`head ${s.size}`],
        baselineRuns: values[`head ${smallest}`],
      };
      rows.push(ratioRow(row, s.size === largest ? { max: 1.5 } : undefined));
    }
    for (const s of streams) {
      if (s.size < snapshotEvery) continue;
      rows.push(
        ratioRow({
          workload: `4 load ${format(s.size)} events, snapshot ${s.tail} behind`,
          unit: 'ms',
          ours: median(values[`behind ${s.size}`]),
          baseline: reference,
          baselineLabel: `${smallest} events`,
          runs: values[`behind ${s.size}`],
          notes: `worst case with SNAPSHOT_EVERY=${snapshotEvery}: ${s.tail} events replayed after the snapshot`,
        }),
      );
    }
    return rows;
  } finally {
    await app.close();
    await db.close();
  }
}
