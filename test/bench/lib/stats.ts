/** Median and range of one metric over the runs. */
export interface Aggregate {
  median: number;
  min: number;
  max: number;
  count: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export function aggregate(values: readonly number[]): Aggregate {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), count: values.length };
}
