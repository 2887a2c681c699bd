/**
 * Counter field names are Prometheus series: `name` or `name{label="value",...}`. The shared
 * Redis hash then maps one-to-one onto /metrics and /ops/telemetry without a translation table.
 * Label values must come from bounded sets (channel, reason, code, queue) — never a user id.
 */
export type Labels = Record<string, string | number>;

export function series(name: string, labels?: Labels): string {
  if (!labels) return name;
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return name;
  return `${name}{${keys.map((k) => `${k}="${String(labels[k]).replace(/["\\\n]/g, '_')}"`).join(',')}}`;
}

/** Splits `name{a="b"}` into its name and labels. */
export function parseSeries(field: string): { name: string; labels: Record<string, string> } {
  const brace = field.indexOf('{');
  if (brace < 0) return { name: field, labels: {} };
  const labels: Record<string, string> = {};
  for (const m of field.slice(brace + 1, -1).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g))
    labels[m[1] as string] = m[2] as string;
  return { name: field.slice(0, brace), labels };
}

/**
 * Histogram buckets (seconds) shared by every latency series: webhook acks live in the low
 * milliseconds, replies (with an AI call) in seconds.
 */
export const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * One observation of a cluster-wide histogram adds 1 to `<name>_bucket{le=…}` for every bucket the
 * value fits (cumulative, as Prometheus reads them), plus `<name>_sum` and `<name>_count`
 * (Counters.observe).
 */
export interface HistogramFields {
  /** `<name>_bucket{…,le="…"}` for each of LATENCY_BUCKETS_S, in order. */
  buckets: string[];
  inf: string;
  sum: string;
  count: string;
}

/** The field names of one histogram series (computed once per name and labels by callers that cache). */
export function histogramFields(name: string, labels: Labels = {}): HistogramFields {
  return {
    buckets: LATENCY_BUCKETS_S.map((le) => series(`${name}_bucket`, { ...labels, le })),
    inf: series(`${name}_bucket`, { ...labels, le: '+Inf' }),
    sum: series(`${name}_sum`, labels),
    count: series(`${name}_count`, labels),
  };
}
