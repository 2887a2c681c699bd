import type { FastifyInstance } from 'fastify';
import { parseSeries } from '@switchboard/observability';
import { QUEUES } from '@switchboard/queue';
import { pausedConversations } from './conversations.js';
import type { OpsDeps } from './ops-deps.js';
import { allQueueCounts, QUEUE_STATES } from './queue-stats.js';

const numberMap = { type: 'object', additionalProperties: { type: 'number' } } as const;
const percentiles = {
  type: 'object',
  properties: {
    count: { type: 'integer' },
    p50: { type: ['number', 'null'] },
    p90: { type: ['number', 'null'] },
    p99: { type: ['number', 'null'] },
  },
} as const;

const telemetrySchema = {
  type: 'object',
  properties: {
    webhooks: {
      type: 'object',
      properties: {
        received: { type: 'number' },
        deduplicated: { type: 'number' },
        unknown_object: { type: 'number' },
        items_skipped: { type: 'number' },
        items_refused: numberMap,
        texts_truncated: { type: 'number' },
        rejected: numberMap,
        enqueued: numberMap,
      },
    },
    webhook_signature_failures: { type: 'number' },
    ai: numberMap,
    events_processed: numberMap,
    sends: {
      type: 'object',
      properties: {
        ok: { type: 'number' },
        retried: { type: 'number' },
        held: { type: 'number' },
        dry_run: { type: 'number' },
        already_sent: { type: 'number' },
        paused: { type: 'number' },
        dead_lettered: numberMap,
        errors: numberMap,
      },
    },
    replies_sent: numberMap,
    queues: {
      type: 'object',
      properties: Object.fromEntries(
        Object.values(QUEUES).map((q) => [
          q,
          { type: 'object', properties: Object.fromEntries(QUEUE_STATES.map((s) => [s, { type: 'integer' }])) },
        ]),
      ),
    },
    latency_ms: { type: 'object', properties: { ack: percentiles, reply_e2e: percentiles } },
    conversations: {
      type: 'object',
      properties: {
        paused: { type: 'integer' },
        handoffs: numberMap,
        history_turns_sent: { type: 'integer' },
        ai_calls: { type: 'integer' },
      },
    },
    counters: numberMap,
  },
} as const;

const AI_COUNTERS = [
  'ai_calls',
  'ai_calls_blocked_per_psid',
  'ai_calls_blocked_global',
  'ai_errors',
  'ai_timeouts',
  'ai_blocked',
  'ai_budget_blocked',
  'fallbacks',
];

/** Sums a labelled counter by the values of the given labels (joined with `/`). */
function byLabel(hash: Record<string, number>, name: string, labels: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [field, value] of Object.entries(hash)) {
    const parsed = parseSeries(field);
    if (parsed.name !== name) continue;
    const key = labels.map((l) => parsed.labels[l] ?? 'none').join('/');
    out[key] = (out[key] ?? 0) + value;
  }
  return out;
}

/** The whole telemetry picture; this process's buffered counts are flushed first so they are included. */
export async function telemetry(deps: OpsDeps) {
  const { resources } = deps;
  await resources.counters.flush();
  const [hash, queues, ack, replyE2e, paused] = await Promise.all([
    resources.counters.read(),
    allQueueCounts(resources),
    resources.latency.percentiles('ack'),
    resources.latency.percentiles('reply_e2e'),
    pausedConversations(deps),
  ]);
  const n = (field: string) => hash[field] ?? 0;
  const sends = byLabel(hash, 'sends', ['result']);
  return {
    webhooks: {
      received: n('webhooks_received'),
      deduplicated: n('webhooks_deduplicated'),
      unknown_object: n('webhooks_unknown_object'),
      items_skipped: n('webhook_items_skipped'),
      items_refused: byLabel(hash, 'webhook_items_refused', ['reason']),
      texts_truncated: n('webhook_texts_truncated'),
      rejected: byLabel(hash, 'webhooks_rejected', ['reason']),
      enqueued: byLabel(hash, 'webhook_events_enqueued', ['channel']),
    },
    webhook_signature_failures: n('webhook_signature_failures'),
    ai: Object.fromEntries(AI_COUNTERS.map((c) => [c, n(c)])),
    events_processed: byLabel(hash, 'events_processed', ['channel', 'outcome']),
    sends: {
      ok: sends.ok ?? 0,
      retried: sends.retried ?? 0,
      held: sends.held ?? 0,
      dry_run: sends.dry_run ?? 0,
      already_sent: sends.already_sent ?? 0,
      // Replies decided but not sent: a person took over the conversation meanwhile.
      paused: sends.paused ?? 0,
      dead_lettered: byLabel(hash, 'dead_lettered', ['queue']),
      errors: byLabel(hash, 'send_errors', ['code', 'kind']),
    },
    replies_sent: byLabel(hash, 'replies_sent', ['channel', 'path', 'reason']),
    queues,
    latency_ms: { ack, reply_e2e: replyE2e },
    // History length: turns sent to the model, and the AI calls they were spread over.
    conversations: {
      paused,
      handoffs: byLabel(hash, 'handoffs', ['reason']),
      history_turns_sent: n('ai_history_turns'),
      ai_calls: n('ai_calls'),
    },
    // Every field of the shared hash, histogram buckets included, for whatever the groups above omit.
    counters: hash,
  };
}

/** GET /ops/telemetry. */
export async function telemetryRoutes(app: FastifyInstance, deps: OpsDeps): Promise<void> {
  app.get('/telemetry', { schema: { response: { 200: telemetrySchema } } }, async () => telemetry(deps));
}
