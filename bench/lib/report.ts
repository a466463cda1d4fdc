import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** One line of the results table. `ours` and `baseline` are medians of the runs. */
export interface Row {
  workload: string;
  unit: string;
  ours: number;
  /** The same-run reference the ratio is taken to (raw pg, the minimal endpoint, ...). */
  baseline?: number;
  baselineLabel?: string;
  /** ours / baseline. */
  ratio?: number;
  /** e.g. `>= 0.9x`, `<= 1.5x`, `< 50 ms`. */
  target?: string;
  met?: boolean;
  runs?: number[];
  baselineRuns?: number[];
  notes?: string;
}

/** A row comparing ours with a baseline, the target being on their ratio. */
export function ratioRow(
  row: Omit<Row, 'ratio' | 'met' | 'target'>,
  target?: { min?: number; max?: number },
): Row {
  const ratio = row.baseline ? row.ours / row.baseline : undefined;
  if (!target || ratio === undefined) return { ...row, ratio };
  const met =
    (target.min === undefined || ratio >= target.min) &&
    (target.max === undefined || ratio <= target.max);
  const text = target.min !== undefined ? `>= ${target.min}x` : `<= ${target.max}x`;
  return { ...row, ratio, target: text, met };
}

function formatNumber(value: number | undefined, unit = ''): string {
  if (value === undefined || Number.isNaN(value)) return '-';
  const digits =
    Number.isInteger(value) || Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  const text = value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
  return unit ? `${text} ${unit}` : text;
}

/** The table as text: workload, our figure, baseline, ratio, target, met. */
export function formatTable(rows: Row[]): string {
  const header = ['workload', 'ours', 'baseline', 'ratio', 'target', 'met?'];
  const lines = rows.map((r) => [
    r.workload,
    formatNumber(r.ours, r.unit),
    r.baseline === undefined
      ? '-'
      : `${formatNumber(r.baseline, r.unit)}${r.baselineLabel ? ` (${r.baselineLabel})` : ''}`,
    r.ratio === undefined ? '-' : `${r.ratio.toFixed(2)}x`,
    r.target ?? '-',
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const format = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  return [format(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(format)].join(
    '\n',
  );
}

export async function writeResults(file: string, results: object): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(results, null, 2) + '\n');
}
