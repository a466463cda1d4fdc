/** The median of some numbers (NaN for none). */
export function median(values: number[]): number {
  return percentile(values, 50);
}

/** The p-th percentile (nearest rank) of some numbers (NaN for none). */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Milliseconds since `start` (a `performance.now()` reading). */
export function since(start: number): number {
  return performance.now() - start;
}

/**
 * Runs every case `warmups + runs` times, cases interleaved and their order alternating from one
 * round to the next (so drift of the machine or of table sizes hits every case alike), after a
 * full garbage collection when node runs with --expose-gc. Returns the measured values of each
 * case (warm-ups dropped).
 */
export async function interleave<K extends string>(
  rounds: { runs: number; warmups: number },
  cases: Record<K, (round: number) => Promise<number>>,
): Promise<Record<K, number[]>> {
  const names = Object.keys(cases) as K[];
  const values = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (let round = 0; round < rounds.warmups + rounds.runs; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      // A clean heap for every case: garbage of the previous one must not be collected on its time.
      globalThis.gc?.();
      const value = await cases[name](round);
      if (round >= rounds.warmups) values[name].push(value);
    }
  }
  return values;
}

/** Runs `worker(0..n-1)` concurrently and waits for all of them. */
export async function parallel(n: number, worker: (index: number) => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: n }, (_, i) => worker(i)));
}
