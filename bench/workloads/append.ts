import { randomUUID } from 'node:crypto';
import { EventStore } from '../../src/event-sourcing/index.js';
import { freshDatabase, startApp } from '../lib/database.js';
import { nextEvents, rawInsert } from '../lib/events.js';
import type { Profile } from '../lib/profile.js';
import { ratioRow, type Row } from '../lib/report.js';
import { interleave, median, parallel, since } from '../lib/stats.js';

/** The target for every append figure: at least 0.9x raw pg. */
const TARGET = { min: 0.9 };

// Diagnostic: the baseline table plus the trigger the events table has (migration EventStore).
const NOTIFY_TABLE = `CREATE TABLE raw_events_notify (LIKE raw_events INCLUDING ALL)`;
// What the first design did (a NOTIFY in every appending transaction): kept as a diagnostic of
// what that costs, since commits that NOTIFY are serialized by PostgreSQL.
const NOTIFY_FUNCTION = `CREATE FUNCTION raw_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN PERFORM pg_notify('raw_events', ''); RETURN NULL; END $$`;
const NOTIFY_TRIGGER = `CREATE TRIGGER raw_events_notify AFTER INSERT ON raw_events_notify
  FOR EACH STATEMENT EXECUTE FUNCTION raw_events_notify()`;

interface Stream {
  id: string;
  version: number;
}

/**
 * `total` appends by `concurrency` writers; writer w owns the streams whose index is w modulo
 * `concurrency` (so exact expected versions never conflict) and cycles through them.
 * Returns the elapsed milliseconds.
 */
async function drive(
  streams: Stream[],
  concurrency: number,
  total: number,
  append: (stream: Stream) => Promise<void>,
): Promise<number> {
  const start = performance.now();
  await parallel(concurrency, async (w) => {
    const own = streams.filter((_, i) => i % concurrency === w);
    const count = Math.floor(total / concurrency) + (w < total % concurrency ? 1 : 0);
    for (let i = 0; i < count; i++) await append(own[i % own.length]);
  });
  return since(start);
}

interface AppendCase {
  name: string;
  concurrency: number;
  eventsPerAppend: number;
  appendsPerRun: number;
  /** Report events/s instead of appends/s. */
  perEvent: boolean;
}

async function runCase(profile: Profile, c: AppendCase): Promise<Row[]> {
  const db = await freshDatabase();
  const app = await startApp(db.url, { runProcessors: false });
  try {
    const store = app.get(EventStore);
    const ids = Array.from({ length: profile.append.streams }, () => randomUUID());
    const ours = ids.map((id) => ({ id, version: -1 }));
    const raw = ids.map((id) => ({ id, version: -1 }));
    const notified = ids.map((id) => ({ id, version: -1 }));
    // In the store's own table, so on streams of their own.
    const floor = ids.map(() => ({ id: randomUUID(), version: -1 }));
    await db.raw.query(NOTIFY_TABLE);
    await db.raw.query(NOTIFY_FUNCTION);
    await db.raw.query(NOTIFY_TRIGGER);
    const unitsPerRun = c.appendsPerRun * (c.perEvent ? c.eventsPerAppend : 1);
    const perSecond = (ms: number) => (unitsPerRun / ms) * 1000;
    /** A raw client's appends (the baseline's INSERT) into `table`, on `streams`: per second. */
    const rawCase = (streams: Stream[], table?: string) => async () =>
      perSecond(
        await drive(streams, c.concurrency, c.appendsPerRun, async (s) => {
          const events = nextEvents(s.id, s.version, c.eventsPerAppend);
          await db.raw.query(rawInsert(s.id, s.version + 1, events, table));
          s.version += events.length;
        }),
      );
    const values = await interleave(profile, {
      raw: rawCase(raw),
      notify: rawCase(notified, 'raw_events_notify'),
      table: rawCase(floor, 'events'),
      ours: async () =>
        perSecond(
          await drive(ours, c.concurrency, c.appendsPerRun, async (s) => {
            const events = nextEvents(s.id, s.version, c.eventsPerAppend);
            s.version = (await store.append(s.id, events, s.version)).version;
          }),
        ),
    });
    const [{ n: stored }] = (await db.raw.query(`SELECT count(*)::int AS n FROM events`)).rows;
    const [{ n: rawStored }] = (await db.raw.query(`SELECT count(*)::int AS n FROM raw_events`))
      .rows;
    const expected = ours.reduce((sum, s) => sum + s.version + 1, 0);
    // Ours and the floor's, in the same table.
    if (stored !== 2 * expected || rawStored !== expected) {
      throw new Error(
        `${c.name}: expected ${expected} events each, found ${stored} in events (ours and the floor's) / raw ${rawStored}`,
      );
    }
    const main = ratioRow(
      {
        workload: c.name,
        unit: c.perEvent ? 'events/s' : 'appends/s',
        ours: median(values.ours),
        baseline: median(values.raw),
        baselineLabel: 'raw pg',
        runs: values.ours,
        baselineRuns: values.raw,
        notes: `${c.appendsPerRun} appends of ${c.eventsPerAppend} event(s) per run over ${ids.length} streams, EventStore.append with exact expected versions, processors off`,
      },
      TARGET,
    );
    const diagnostic = ratioRow({
      workload: `${c.name.slice(0, 2)}diag: raw pg + NOTIFY trigger, c=${c.concurrency}`,
      unit: main.unit,
      ours: median(values.notify),
      baseline: median(values.raw),
      baselineLabel: 'raw pg',
      runs: values.notify,
      baselineRuns: values.raw,
      notes:
        'diagnostic: the baseline with the events table notify trigger (pg_notify per INSERT statement, as events_notify does): what NOTIFY alone costs',
    });
    const table = ratioRow({
      workload: `${c.name.slice(0, 2)}diag: raw pg into the events table, c=${c.concurrency}`,
      unit: main.unit,
      ours: median(values.table),
      baseline: median(values.raw),
      baselineLabel: 'raw pg',
      runs: values.table,
      baselineRuns: values.raw,
      notes:
        "diagnostic: the baseline's INSERT into the store's own events table (its columns and indexes, event_id, schema_version and metadata given), with no version check and nothing returned: the floor of any append to that table",
    });
    return [main, table, diagnostic];
  } finally {
    await app.close();
    await db.close();
  }
}

/** Workloads 1 and 2: appends to many streams, one or ten events each. */
export async function appendWorkloads(profile: Profile): Promise<Row[]> {
  const { appendsC1, appendsC16, batchAppends } = profile.append;
  const cases: AppendCase[] = [
    {
      name: '1 append, 1 event, c=1',
      concurrency: 1,
      eventsPerAppend: 1,
      appendsPerRun: appendsC1,
      perEvent: false,
    },
    {
      name: '1 append, 1 event, c=16',
      concurrency: 16,
      eventsPerAppend: 1,
      appendsPerRun: appendsC16,
      perEvent: false,
    },
    {
      name: '2 append, 10 events, c=16',
      concurrency: 16,
      eventsPerAppend: 10,
      appendsPerRun: batchAppends,
      perEvent: true,
    },
  ];
  const rows: Row[] = [];
  for (const c of cases) rows.push(...(await runCase(profile, c)));
  return rows;
}
