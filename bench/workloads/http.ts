import { freshDatabase, type BenchDatabase } from '../lib/database.js';
import type { Profile } from '../lib/profile.js';
import { ratioRow, type Row } from '../lib/report.js';
import { interleave, median, percentile } from '../lib/stats.js';
import { Client, closedLoop, probeLag, type LoadResult } from '../http/load.js';
import { RAW_DEPOSITS } from '../http/minimal.module.js';
import type { ServerMode } from '../http/server.js';
import { startServer, waitCaughtUp, type Server } from '../http/servers.js';

const PROBE_ACCOUNTS = 10;
/** A lag probe every 50 ms: 400 samples in a 20 s run, beside the 32 clients' load. */
const PROBE_INTERVAL_MS = 50;
const PROBE_TIMEOUT_MS = 60_000;
const LAG_TARGET_MS = 50;

/** Opens `count` accounts over HTTP (32 at a time); returns their ids. */
async function openAccounts(client: Client, count: number): Promise<string[]> {
  const ids: string[] = [];
  let opened = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (opened < count) {
        opened += 1;
        const res = await client.post('/accounts', { ownerId: 'bench', initialDeposit: 1_000 });
        if (res.status !== 201) throw new Error(`open account answered ${res.status}: ${res.body}`);
        ids.push((JSON.parse(res.body) as { accountId: string }).accountId);
      }
    }),
  );
  return ids;
}

interface Target {
  db: BenchDatabase;
  server: Server;
  client: Client;
  accounts: string[];
}

/**
 * Workload 6: deposits over HTTP by closed-loop keep-alive clients on random accounts, beside a
 * minimal Nest endpoint doing one raw INSERT; the read-model lag sampled during our runs. Diagnostic
 * cases, each on a database of its own: the processors off; the processors in a worker thread.
 */
export async function httpWorkload(profile: Profile): Promise<Row[]> {
  const { clients, accounts: accountCount, durationMs, warmupMs } = profile.http;
  const lightMs = Math.min(durationMs / 2, 5_000);
  const targets: Target[] = [];
  let probeClient: Client | undefined;
  let workerThreadProbeClient: Client | undefined;
  const closeAll = async () => {
    probeClient?.close();
    workerThreadProbeClient?.close();
    for (const t of targets.reverse()) {
      t.client.close();
      await t.server.stop();
      await t.db.close();
    }
  };
  const prepare = async (mode: ServerMode, accounts: number): Promise<Target> => {
    const db = await freshDatabase();
    const server = await startServer(mode, db.url).catch(async (error: unknown) => {
      await db.close();
      throw error;
    });
    const target: Target = { db, server, client: new Client(server.port, clients), accounts: [] };
    targets.push(target);
    if (mode === 'minimal') await db.raw.query(RAW_DEPOSITS);
    else target.accounts = await openAccounts(target.client, accounts);
    return target;
  };
  try {
    // Started side by side (setup is not measured); each has a database of its own.
    // allSettled: every server is known to closeAll before a failure is thrown.
    const settled = await Promise.allSettled([
      prepare('tally', accountCount + PROBE_ACCOUNTS),
      prepare('tally-write-only', accountCount),
      prepare('minimal', 0),
      prepare('tally-worker-thread', accountCount + PROBE_ACCOUNTS),
    ]);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const [tally, writeOnly, minimal, workerThread] = settled.map(
      (r) => (r as PromiseFulfilledResult<Target>).value,
    );
    const accounts = tally.accounts.slice(0, accountCount);
    // The rows the minimal server's second route updates (DEPOSIT_STORED).
    await minimal.db.raw.query(
      `INSERT INTO account_summaries
         (account_id, owner_id, currency, balance, status, version, opened_at, updated_at)
       SELECT id, 'bench', 'USD', 1000, 'open', 0, now(), now() FROM unnest($1::uuid[]) AS id`,
      [accounts],
    );
    const probeHttp = new Client(tally.server.port, 4);
    probeClient = probeHttp;
    const workerThreadProbeHttp = new Client(workerThread.server.port, 4);
    workerThreadProbeClient = workerThreadProbeHttp;
    await waitCaughtUp(tally.db.raw, 60_000);
    await waitCaughtUp(workerThread.db.raw, 60_000);

    const measured = (round: number) => round >= profile.warmups;
    const load = (target: Target, path: (id: string) => string, round: number) => {
      const ids = target === minimal ? accounts : target.accounts.slice(0, accountCount);
      return closedLoop({
        client: target.client,
        clients,
        durationMs: measured(round) ? durationMs : warmupMs,
        maxRequests: Math.ceil(durationMs / 1000) * 50_000,
        next: () => ({
          path: path(ids[Math.floor(Math.random() * ids.length)]),
          body: { amount: 1 },
        }),
        expect: 201,
      });
    };
    const latency = {
      tally: new Percentiles(),
      minimal: new Percentiles(),
      stored: new Percentiles(),
      writeOnly: new Percentiles(),
      workerThread: new Percentiles(),
    };
    const lags = {
      loaded: new LagSamples(),
      light: new LagSamples(),
      workerThread: new LagSamples(),
    };
    const sampleLag = (running: () => boolean, on: Target = tally) =>
      probeLag({
        client: on === workerThread ? workerThreadProbeHttp : probeHttp,
        databaseUrl: on.db.url,
        accounts: on.accounts.slice(accountCount),
        running,
        intervalMs: PROBE_INTERVAL_MS,
        timeoutMs: PROBE_TIMEOUT_MS,
      });
    const drainMs: number[] = [];
    const unexpected: string[] = [];
    const keep = (round: number, into: Percentiles, result: LoadResult, name: string) => {
      if (result.errors)
        unexpected.push(`${name}: ${result.errors} ${JSON.stringify(result.statuses)}`);
      if (measured(round)) into.add(result.latencies);
      return result.perSecond;
    };

    const values = await interleave(profile, {
      minimal: async (round) =>
        keep(
          round,
          latency.minimal,
          await load(minimal, (id) => `/raw/${id}/deposits`, round),
          'minimal',
        ),
      stored: async (round) =>
        keep(
          round,
          latency.stored,
          await load(minimal, (id) => `/raw/${id}/deposits-stored`, round),
          'minimal, stored',
        ),
      tally: async (round) => {
        let running = true;
        const probe = sampleLag(() => running);
        const result = await load(tally, (id) => `/accounts/${id}/deposits`, round).finally(
          () => (running = false),
        );
        const probed = await probe;
        // Let the projections finish before the next case runs (and time how long that took).
        const drained = await waitCaughtUp(tally.db.raw, 300_000);
        if (measured(round)) {
          lags.loaded.add(probed);
          drainMs.push(Math.round(drained));
        }
        return keep(round, latency.tally, result, 'tally');
      },
      light: async (round) => {
        const until = performance.now() + (measured(round) ? lightMs : warmupMs);
        const probed = await sampleLag(() => performance.now() < until);
        await waitCaughtUp(tally.db.raw, 300_000);
        if (measured(round)) lags.light.add(probed);
        return percentile(probed.lags, 99);
      },
      writeOnly: async (round) =>
        keep(
          round,
          latency.writeOnly,
          await load(writeOnly, (id) => `/accounts/${id}/deposits`, round),
          'write-only',
        ),
      workerThread: async (round) => {
        let running = true;
        const probe = sampleLag(() => running, workerThread);
        const result = await load(workerThread, (id) => `/accounts/${id}/deposits`, round).finally(
          () => (running = false),
        );
        const probed = await probe;
        await waitCaughtUp(workerThread.db.raw, 300_000);
        if (measured(round)) lags.workerThread.add(probed);
        return keep(round, latency.workerThread, result, 'worker-thread');
      },
    });

    const setup = `${clients} keep-alive clients (closed loop), random account of ${accountCount}, ${durationMs / 1000} s per run; servers in their own processes, LOG_LEVEL=warn`;
    const errors = unexpected.length ? `; unexpected answers: ${unexpected.join(', ')}` : '';
    const lagNote = `${lags.loaded.describe()}: a probe deposit every ${PROBE_INTERVAL_MS} ms (open loop) during the ${clients} clients' load, its account's row in account_summaries read every ms until it shows that version; after each run the projections needed ${drainMs.join(' / ')} ms to catch up`;
    const lag99 = median(lags.loaded.p99);
    const baseline = median(values.minimal);
    return [
      ratioRow(
        {
          workload: '6 HTTP deposits',
          unit: 'req/s',
          ours: median(values.tally),
          baseline,
          baselineLabel: 'minimal Nest',
          runs: values.tally,
          baselineRuns: values.minimal,
          notes: `${setup}${errors}`,
        },
        { min: 0.7 },
      ),
      ...(['p50', 'p99'] as const).map((p) =>
        ratioRow({
          workload: `6 HTTP latency ${p}`,
          unit: 'ms',
          ours: median(latency.tally[p]),
          baseline: median(latency.minimal[p]),
          baselineLabel: 'minimal Nest',
          runs: latency.tally[p],
          baselineRuns: latency.minimal[p],
        }),
      ),
      {
        workload: '6 read-model lag p50',
        unit: 'ms',
        ours: median(lags.loaded.p50),
        runs: lags.loaded.p50,
        notes: lagNote,
      },
      {
        workload: '6 read-model lag p99',
        unit: 'ms',
        ours: lag99,
        runs: lags.loaded.p99,
        target: `< ${LAG_TARGET_MS} ms`,
        met: lag99 < LAG_TARGET_MS,
        notes: lagNote,
      },
      ratioRow({
        workload: '6 diag: HTTP deposits, processors off',
        unit: 'req/s',
        ours: median(values.writeOnly),
        baseline,
        baselineLabel: 'minimal Nest',
        runs: values.writeOnly,
        baselineRuns: values.minimal,
        notes: `diagnostic: the same app with runProcessors false on its own database, so no projection work competes for the CPUs; latency p50 ${median(latency.writeOnly.p50).toFixed(1)} ms, p99 ${median(latency.writeOnly.p99).toFixed(1)} ms`,
      }),
      ratioRow({
        workload: "6 diag: minimal Nest, a deposit's rows in one statement",
        unit: 'req/s',
        ours: median(values.stored),
        baseline,
        baselineLabel: 'minimal Nest',
        runs: values.stored,
        baselineRuns: values.minimal,
        notes: `diagnostic: the minimal app's second route, which stores what a deposit stores (its event in the events table, with a version from a counter in memory and nothing checked, its account_summaries row updated and its statement_lines row) in one statement, synchronously, with no framework and no store; latency p50 ${median(latency.stored.p50).toFixed(1)} ms, p99 ${median(latency.stored.p99).toFixed(1)} ms`,
      }),
      ratioRow({
        workload: '6 diag: HTTP deposits, processors in a worker thread',
        unit: 'req/s',
        ours: median(values.workerThread),
        baseline,
        baselineLabel: 'minimal Nest',
        runs: values.workerThread,
        baselineRuns: values.minimal,
        notes: `diagnostic: the app with PROCESSOR_THREAD=worker, its processors in a worker thread with an event loop of their own; latency p50 ${median(latency.workerThread.p50).toFixed(1)} ms, p99 ${median(latency.workerThread.p99).toFixed(1)} ms`,
      }),
      ...(['p50', 'p99'] as const).map((p) => ({
        workload: `6 diag: lag ${p}, processors in a worker thread`,
        unit: 'ms',
        ours: median(lags.workerThread[p]),
        runs: lags.workerThread[p],
        notes: `diagnostic: the read-model lag of that app at that load, probed as above (${lags.workerThread.describe()})`,
      })),
      {
        workload: `6 diag: lag p99, probe alone (${1000 / PROBE_INTERVAL_MS} req/s)`,
        unit: 'ms',
        ours: median(lags.light.p99),
        runs: lags.light.p99,
        notes: `diagnostic: the same probe with no other load, ${lightMs / 1000} s per run (${lags.light.describe()}); p50 ${median(lags.light.p50).toFixed(1)} ms`,
      },
    ];
  } finally {
    await closeAll();
  }
}

/** The p50 and p99 of each measured run (the runs' raw latencies are not kept). */
class Percentiles {
  readonly p50: number[] = [];
  readonly p99: number[] = [];

  add(latencies: number[]): void {
    this.p50.push(percentile(latencies, 50));
    this.p99.push(percentile(latencies, 99));
  }
}

/** Per-run p50 and p99 of the lag probe's samples, with their count. */
class LagSamples {
  readonly p50: number[] = [];
  readonly p99: number[] = [];
  private samples = 0;
  private timeouts = 0;

  add(probed: { lags: number[]; timeouts: number }): void {
    this.p50.push(percentile(probed.lags, 50));
    this.p99.push(percentile(probed.lags, 99));
    this.samples += probed.lags.length;
    this.timeouts += probed.timeouts;
  }

  describe(): string {
    const timedOut = this.timeouts
      ? `, ${this.timeouts} timed out (${PROBE_TIMEOUT_MS / 1000} s)`
      : '';
    return `${this.samples} samples${timedOut}`;
  }
}
