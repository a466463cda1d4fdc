/** The sizes of every workload: the full benchmark, or `--quick` (proves the benchmark works). */
export interface Profile {
  name: 'full' | 'quick';
  /** Measured runs per figure (the figure is their median), after `warmups` unrecorded ones. */
  runs: number;
  warmups: number;
  append: { streams: number; appendsC1: number; appendsC16: number; batchAppends: number };
  contended: { writers: number; appendsPerWriter: number; runTimeoutMs: number };
  load: { sizes: number[]; snapshotEvery: number; loadsPerRun: (events: number) => number };
  projection: { accounts: number; eventsPerAccount: number };
  http: { clients: number; accounts: number; durationMs: number; warmupMs: number };
}

export const FULL: Profile = {
  name: 'full',
  runs: 5,
  warmups: 1,
  append: { streams: 1_000, appendsC1: 3_000, appendsC16: 6_000, batchAppends: 2_000 },
  contended: { writers: 16, appendsPerWriter: 40, runTimeoutMs: 120_000 },
  load: {
    sizes: [10, 1_000, 10_000, 100_000],
    snapshotEvery: 50,
    loadsPerRun: (events) => Math.max(1, Math.min(200, Math.round(20_000 / events))),
  },
  projection: { accounts: 2_000, eventsPerAccount: 100 },
  http: { clients: 32, accounts: 1_000, durationMs: 20_000, warmupMs: 5_000 },
};

export const QUICK: Profile = {
  name: 'quick',
  runs: 2,
  warmups: 1,
  append: { streams: 100, appendsC1: 150, appendsC16: 300, batchAppends: 60 },
  contended: { writers: 16, appendsPerWriter: 3, runTimeoutMs: 20_000 },
  load: {
    sizes: [10, 100, 2_000],
    snapshotEvery: 50,
    loadsPerRun: (events) => Math.max(1, Math.min(20, Math.round(2_000 / events))),
  },
  projection: { accounts: 50, eventsPerAccount: 40 },
  http: { clients: 32, accounts: 50, durationMs: 2_000, warmupMs: 300 },
};
