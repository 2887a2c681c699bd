import { collectDefaultMetrics, Registry } from 'prom-client';
import { LATENCY_BUCKETS_S, type Labels, parseSeries } from './series.js';

/**
 * Prometheus exposition of Switchboard (text format 0.0.4,
 * https://prometheus.io/docs/instrumenting/exposition_formats/).
 *
 * The cluster-wide counters hash (counters.ts) is rendered as it stands in Redis, so every replica
 * answers a scrape with the same sums: field `x` → `switchboard_x_total` (counter), fields
 * `x_bucket{le}`, `x_sum`, `x_count` → histogram `switchboard_x`. Gauges are computed by the caller
 * at scrape time; the process metrics (prom-client's default collectors) describe only the process
 * that answered, on a private Registry so two apps in one process (tests) never collide.
 *
 * Names alert rules rely on — keep them stable:
 *   switchboard_webhooks_received_total, switchboard_webhooks_deduplicated_total,
 *   switchboard_webhooks_rejected_total{reason}, switchboard_webhook_signature_failures_total,
 *   switchboard_webhook_events_enqueued_total{channel}, switchboard_webhook_ack_seconds (histogram),
 *   switchboard_webhook_items_refused_total{reason}, switchboard_webhook_texts_truncated_total,
 *   switchboard_events_processed_total{channel,outcome}, switchboard_sends_total{result},
 *   switchboard_send_errors_total{code,kind}, switchboard_replies_sent_total{channel,path,reason},
 *   switchboard_reply_latency_seconds{channel} (histogram), switchboard_dead_lettered_total{queue},
 *   switchboard_ai_calls_total, switchboard_ai_errors_total, switchboard_ai_timeouts_total,
 *   switchboard_ai_calls_blocked_per_psid_total, switchboard_ai_calls_blocked_global_total,
 *   switchboard_fallbacks_total, switchboard_ai_budget_blocked_total,
 *   switchboard_handoffs_total{reason}, switchboard_ai_history_turns_total,
 *   gauges: switchboard_conversations_paused, switchboard_queue_depth{queue,state}, switchboard_queue_oldest_age_seconds{queue},
 *   switchboard_dead_letter_jobs{queue}, switchboard_ai_enabled, switchboard_ai_budget_spend_usd{period},
 *   switchboard_ai_budget_usd{period}, switchboard_token_days_left{page}, switchboard_health_status.
 */
export const METRIC_PREFIX = 'switchboard_';

/**
 * Counters exported even before their first increment: `rate()` and `increase()` in alert rules
 * need the series to exist at 0, not to appear out of nowhere on the first error.
 */
export const ALWAYS_EXPORTED_COUNTERS: readonly string[] = [
  'webhooks_received',
  'webhooks_deduplicated',
  'webhook_signature_failures',
  'ai_calls',
  'ai_errors',
  'ai_timeouts',
  'ai_blocked',
  'ai_calls_blocked_per_psid',
  'ai_calls_blocked_global',
  'ai_budget_blocked',
  'fallbacks',
  'ai_history_turns',
  'dead_lettered{queue="inbound"}',
  'dead_lettered{queue="outbound"}',
];

const HELP: Record<string, string> = {
  webhooks_received: 'Webhook POSTs accepted (signed, stored).',
  webhooks_deduplicated: 'Webhook events dropped as already seen.',
  webhooks_rejected: 'Webhook POSTs refused, by reason.',
  webhook_signature_failures: 'Webhook POSTs whose X-Hub-Signature-256 did not verify.',
  webhook_events_enqueued: 'Webhook events enqueued as inbound jobs, by channel.',
  webhook_items_refused:
    'Webhook items acknowledged but not stored because they break a bound (an id too long, a timestamp too far ahead), by reason.',
  webhook_texts_truncated: 'Webhook events stored with a text, payload or metadata cut to the length bound.',
  webhook_ack_seconds: 'Time from request start to the webhook acknowledgement.',
  events_processed: 'Inbound events processed by the workers, by channel and outcome.',
  sends: 'Send API outcomes, by result.',
  send_errors: 'Send API errors, by Graph error code and kind.',
  replies_sent: 'Replies delivered, by channel, path and reason.',
  reply_latency_seconds: 'Webhook acknowledgement to the last reply part accepted by Meta.',
  dead_lettered: 'Jobs that failed for good (moved to the dead-letter set), by queue.',
  ai_calls: 'AI calls made.',
  ai_errors: 'AI calls that failed (including timeouts).',
  ai_budget_blocked: 'Replies that took the fallback because the AI budget was spent.',
  fallbacks: 'Replies that took the fallback path.',
  handoffs: 'Conversations paused for a person, by reason (staff_replied, user_asked, operator, handover).',
  ai_history_turns:
    'Earlier conversation turns sent to the model, summed over AI calls (divide by ai_calls for the mean).',
  send_alerts:
    'Sends refused because Meta restricted the sending account (WhatsApp 131048, 131031, 368), by channel and code.',
  whatsapp_delivery_failures:
    'WhatsApp replies accepted by Meta and later reported failed (a `failed` status), by error code.',
  whatsapp_account_errors: 'WhatsApp account-level errors received by webhook, by error code.',
  state_write_failures:
    'Best-effort Redis or PostgreSQL writes that failed and were logged instead of failing their job, by what was written.',
  whatsapp_mark_read_failures:
    'WhatsApp messages a reply could not mark read (the reply itself went out), by error code.',
};

export interface GaugeFamily {
  /** Without the `switchboard_` prefix. */
  name: string;
  help: string;
  samples: Array<{ labels?: Labels; value: number }>;
}

export class MetricsExporter {
  readonly #registry = new Registry();

  constructor() {
    collectDefaultMetrics({ register: this.#registry });
  }

  get contentType(): string {
    return this.#registry.contentType;
  }

  /** The whole scrape: counters from the shared hash, the caller's gauges, this process's metrics. */
  async render(counters: Record<string, number>, gauges: readonly GaugeFamily[]): Promise<string> {
    const own = await this.#registry.metrics();
    return renderCounters(counters) + gauges.map(renderGauge).join('') + own;
  }
}

interface Family {
  type: 'counter' | 'histogram';
  help: string;
  lines: string[];
}

/** Renders the counters hash (field → value) as Prometheus text. */
export function renderCounters(hash: Record<string, number>): string {
  const fields: Record<string, number> = {};
  for (const name of ALWAYS_EXPORTED_COUNTERS) fields[name] = 0;
  Object.assign(fields, hash);

  const parsed = Object.entries(fields).map(([field, value]) => ({ ...parseSeries(field), value }));
  const histograms = new Set(
    parsed.filter((p) => p.name.endsWith('_bucket') && 'le' in p.labels).map((p) => p.name.slice(0, -'_bucket'.length)),
  );
  const families = new Map<string, Family>();

  // Histograms: every bucket per label set, cumulative as stored (Counters.observe adds to each
  // bucket the value fits), a missing bucket meaning no observation that small.
  const byHistogram = new Map<
    string,
    Map<string, { labels: Record<string, string>; buckets: Map<string, number>; sum: number; count: number }>
  >();
  for (const p of parsed) {
    const base = histogramBase(p.name, histograms);
    if (!base) continue;
    const { le, ...rest } = p.labels;
    const key = labelText(rest);
    const perLabels = byHistogram.get(base) ?? new Map();
    byHistogram.set(base, perLabels);
    const entry = perLabels.get(key) ?? { labels: rest, buckets: new Map<string, number>(), sum: 0, count: 0 };
    perLabels.set(key, entry);
    if (p.name.endsWith('_bucket') && le !== undefined) entry.buckets.set(le, p.value);
    else if (p.name.endsWith('_sum')) entry.sum = p.value;
    else entry.count = p.value;
  }
  for (const [base, perLabels] of byHistogram) {
    const name = metricName(base);
    const lines: string[] = [];
    for (const entry of perLabels.values()) {
      const bounds = new Set([...LATENCY_BUCKETS_S.map(String), ...entry.buckets.keys()]);
      bounds.delete('+Inf');
      const sorted = [...bounds].sort((a, b) => Number(a) - Number(b));
      for (const le of [...sorted, '+Inf'])
        lines.push(sample(`${name}_bucket`, { ...entry.labels, le }, entry.buckets.get(le) ?? 0));
      lines.push(sample(`${name}_sum`, entry.labels, entry.sum));
      lines.push(sample(`${name}_count`, entry.labels, entry.count));
    }
    families.set(name, { type: 'histogram', help: HELP[base] ?? `Histogram ${base} (seconds).`, lines });
  }

  for (const p of parsed) {
    if (histogramBase(p.name, histograms)) continue;
    const base = p.name.endsWith('_total') ? p.name.slice(0, -'_total'.length) : p.name;
    const name = `${metricName(base)}_total`;
    const family = families.get(name) ?? { type: 'counter', help: HELP[base] ?? `Counter ${base}.`, lines: [] };
    families.set(name, family);
    family.lines.push(sample(name, p.labels, p.value));
  }

  let out = '';
  for (const name of [...families.keys()].sort()) {
    const f = families.get(name) as Family;
    // Histogram lines keep their bucket order (ascending `le`, then _sum, _count); counters sort by labels.
    const lines = f.type === 'counter' ? [...f.lines].sort() : f.lines;
    out += `# HELP ${name} ${escapeHelp(f.help)}\n# TYPE ${name} ${f.type}\n${lines.join('\n')}\n`;
  }
  return out;
}

export function renderGauge(family: GaugeFamily): string {
  const name = metricName(family.name);
  const lines = family.samples.map((s) => sample(name, s.labels ?? {}, s.value));
  return `# HELP ${name} ${escapeHelp(family.help)}\n# TYPE ${name} gauge\n${lines.map((l) => `${l}\n`).join('')}`;
}

function histogramBase(name: string, histograms: Set<string>): string | undefined {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      if (histograms.has(base)) return base;
    }
  }
  return undefined;
}

function metricName(base: string): string {
  return METRIC_PREFIX + base.replace(/[^a-zA-Z0-9_:]/g, '_');
}

function sample(name: string, labels: Labels, value: number): string {
  return `${name}${labelText(labels)} ${formatValue(value)}`;
}

function labelText(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k.replace(/[^a-zA-Z0-9_]/g, '_')}="${escapeLabel(String(labels[k]))}"`).join(',')}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}
