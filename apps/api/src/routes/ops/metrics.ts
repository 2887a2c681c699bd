import { and, isNotNull, eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { pages } from '@switchboard/db';
import type { GaugeFamily } from '@switchboard/observability';
import { checkHealth } from '../health.js';
import { pausedConversations } from './conversations.js';
import type { OpsDeps } from './ops-deps.js';
import { DEAD_LETTER_QUEUES, oldestWaitingAgeSeconds, QUEUE_STATES, queueCounts, queuesOf } from './queue-stats.js';

const HEALTH_VALUE = { ok: 0, degraded: 1, down: 2 } as const;
const DAY_S = 86_400;

/** A source that cannot be read (Redis or PostgreSQL down) drops its gauges, not the whole scrape. */
async function optional<T>(p: Promise<T>): Promise<T | undefined> {
  return p.catch(() => undefined);
}

/** The gauges computed at scrape time (names documented in @switchboard/observability metrics.ts). */
export async function scrapeGauges(deps: OpsDeps, now = Date.now()): Promise<GaugeFamily[]> {
  const { config, resources, budget } = deps;
  const queues = queuesOf(resources);
  const names = Object.keys(queues) as Array<keyof typeof queues>;
  const [counts, ages, enabled, spend, tokens, health, paused] = await Promise.all([
    optional(Promise.all(names.map((n) => queueCounts(queues[n])))),
    optional(Promise.all(names.map((n) => oldestWaitingAgeSeconds(queues[n], now)))),
    optional(resources.killSwitch.setting()),
    optional(budget.status(new Date(now))),
    optional(
      resources.dbh.db
        .select({ pageId: pages.pageId, expiresAt: pages.expiresAt })
        .from(pages)
        .where(and(isNotNull(pages.expiresAt), eq(pages.neverExpires, false))),
    ),
    checkHealth(config, resources),
    optional(pausedConversations(deps)),
  ]);

  const families: GaugeFamily[] = [
    {
      name: 'health_status',
      help: 'Health as /health reports it: 0 ok, 1 degraded, 2 down.',
      samples: [{ value: HEALTH_VALUE[health.status] }],
    },
  ];
  if (counts) {
    families.push({
      name: 'queue_depth',
      help: 'Jobs per queue and state.',
      samples: names.flatMap((queue, i) =>
        QUEUE_STATES.map((state) => ({ labels: { queue, state }, value: counts[i]?.[state] ?? 0 })),
      ),
    });
    families.push({
      name: 'dead_letter_jobs',
      help: 'Jobs in the dead-letter set (BullMQ failed), per queue.',
      samples: DEAD_LETTER_QUEUES.map((queue) => ({
        labels: { queue },
        value: counts[names.indexOf(queue)]?.failed ?? 0,
      })),
    });
  }
  if (ages) {
    families.push({
      name: 'queue_oldest_age_seconds',
      help: 'Age of the oldest waiting job, per queue (0 when none waits).',
      samples: names.map((queue, i) => ({ labels: { queue }, value: Math.round((ages[i] ?? 0) * 1000) / 1000 })),
    });
  }
  if (paused !== undefined)
    families.push({
      name: 'conversations_paused',
      help: 'Conversations where the bot is silent right now.',
      samples: [{ value: paused }],
    });
  if (enabled !== undefined)
    families.push({
      name: 'ai_enabled',
      help: 'The AI kill switch: 1 on, 0 off.',
      samples: [{ value: enabled ? 1 : 0 }],
    });
  if (spend) {
    families.push({
      name: 'ai_budget_spend_usd',
      help: 'AI spend in USD this UTC day and month.',
      samples: [
        { labels: { period: 'day' }, value: spend.dailySpendUsd },
        { labels: { period: 'month' }, value: spend.monthlySpendUsd },
      ],
    });
    const budgets = [
      ...(spend.dailyBudgetUsd !== null ? [{ labels: { period: 'day' }, value: spend.dailyBudgetUsd }] : []),
      ...(spend.monthlyBudgetUsd !== null ? [{ labels: { period: 'month' }, value: spend.monthlyBudgetUsd }] : []),
    ];
    // Only configured budgets: an absent series means "no limit", which 0 would contradict.
    if (budgets.length > 0)
      families.push({ name: 'ai_budget_usd', help: 'Configured AI budget in USD, per period.', samples: budgets });
  }
  if (tokens && tokens.length > 0) {
    families.push({
      name: 'token_days_left',
      help: 'Days until a Page token expires (never-expiring tokens are not listed).',
      samples: tokens.map((t) => ({
        labels: { page: t.pageId },
        value: Math.round((((t.expiresAt as Date).getTime() - now) / 1000 / DAY_S) * 100) / 100,
      })),
    });
  }
  return families;
}

/** GET /metrics: Prometheus text, behind the ops Basic auth. */
export async function metricsRoutes(app: FastifyInstance, deps: OpsDeps): Promise<void> {
  const { resources, metrics } = deps;
  app.get('/metrics', async (_request, reply) => {
    // This process's buffered counts go into the hash first, so the scrape includes them.
    await resources.counters.flush();
    const [hash, gauges] = await Promise.all([optional(resources.counters.read()), scrapeGauges(deps)]);
    const body = await metrics.render(hash ?? {}, gauges);
    return reply.type(metrics.contentType).send(body);
  });
}
