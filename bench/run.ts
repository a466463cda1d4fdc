/**
 * The benchmark of issue #6: `npm run bench` (or `npm run bench:quick`). Runs under
 * test/support/with-test-database.ts, which provides the database server; every workload gets a
 * fresh database. Prints a table and writes the figures as JSON.
 *
 *   options: --quick   small sizes, 2 runs (CI proves the benchmark still works)
 *            --only append,contended,load,projection,http   run some workloads
 *            --out FILE   where to write the JSON (default bench/results/<ISO date>.json;
 *                         with --quick, a file in the OS temp folder)
 */
import 'reflect-metadata';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { POOL_SIZE, serverVersion } from './lib/database.js';
import { FULL, QUICK, type Profile } from './lib/profile.js';
import { formatTable, writeResults, type Row } from './lib/report.js';
import { appendWorkloads } from './workloads/append.js';
import { contendedWorkload } from './workloads/contended.js';
import { httpWorkload } from './workloads/http.js';
import { loadWorkload } from './workloads/load.js';
import { projectionWorkload } from './workloads/projection.js';

const WORKLOADS: Record<string, (profile: Profile) => Promise<Row[]>> = {
  append: appendWorkloads,
  contended: contendedWorkload,
  load: loadWorkload,
  projection: projectionWorkload,
  http: httpWorkload,
};

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const profile = values.quick ? QUICK : FULL;
  const only = values.only?.split(',') ?? Object.keys(WORKLOADS);
  const unknown = only.filter((name) => !WORKLOADS[name]);
  if (unknown.length) throw new Error(`unknown workload ${unknown.join(', ')}`);
  const serverUrl = process.env.TALLY_TEST_SERVER_URL;
  if (!serverUrl) throw new Error('run it with npm run bench (it provides the database server)');

  const startedAt = new Date();
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    postgres: await serverVersion(serverUrl),
    database:
      process.env.TEST_DATABASE_URL || process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded',
  };
  console.log(`tally benchmark (${profile.name}): ${machine.cpus} CPUs, Node ${machine.node}`);
  console.log(`${machine.postgres} (${machine.database})\n`);

  const rows: Row[] = [];
  const failures: { workload: string; error: string }[] = [];
  // Other processes on the machine skew every figure: the 1-minute load average says how busy it was.
  const loadAverage: Record<string, { before: number; after: number }> = {};
  for (const name of only) {
    const start = performance.now();
    const before = loadavg()[0];
    process.stdout.write(`${name} (load average ${before.toFixed(1)})... `);
    try {
      const produced = await WORKLOADS[name](profile);
      rows.push(...produced);
      console.log(`${((performance.now() - start) / 1000).toFixed(1)} s`);
      loadAverage[name] = { before, after: loadavg()[0] };
    } catch (error) {
      console.log('FAILED');
      console.error(error);
      failures.push({ workload: name, error: String((error as Error)?.stack ?? error) });
    }
  }

  console.log(`\n${formatTable(rows)}\n`);
  const missed = rows.filter((r) => r.met === false).map((r) => r.workload);
  if (missed.length) console.log(`targets missed: ${missed.join('; ')}`);
  if (failures.length)
    console.log(`workloads failed: ${failures.map((f) => f.workload).join(', ')}`);
  else if (!missed.length) console.log('every target met');

  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const out =
    values.out ??
    (values.quick
      ? join(tmpdir(), `tally-bench-quick-${stamp}.json`)
      : join('bench', 'results', `${stamp}.json`));
  await writeResults(out, {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    profile,
    // The pools of the app and of the baselines (BENCH_POOL_SIZE).
    poolSize: POOL_SIZE,
    machine: { ...machine, loadAverage },
    rows,
    failures,
  });
  console.log(`results written to ${out}`);
  return failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
