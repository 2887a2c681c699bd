import type { FastifyInstance } from 'fastify';
import { auditContext, writeAudit } from '../../audit.js';
import { errorSchema, type OpsDeps } from './ops-deps.js';

/** The AI counters the status answers with (docs/api.md), all from the shared counters hash. */
const AI_COUNTERS = [
  'ai_calls',
  'ai_calls_blocked_per_psid',
  'ai_calls_blocked_global',
  'ai_errors',
  'fallbacks',
] as const;
const AI_EXTRA_COUNTERS = ['ai_timeouts', 'ai_blocked', 'ai_budget_blocked'] as const;

const counterProps = (names: readonly string[]) => Object.fromEntries(names.map((n) => [n, { type: 'number' }]));
const nullableNumber = { type: ['number', 'null'] } as const;

const statusSchema = {
  type: 'object',
  required: ['enabled', 'provider', 'model', 'limits', 'counters', 'budget'],
  properties: {
    enabled: { type: 'boolean' },
    provider: { type: 'string' },
    model: { type: 'string' },
    configured: { type: 'boolean' },
    timeout_ms: { type: 'integer' },
    limits: {
      type: 'object',
      properties: { per_psid_per_min: { type: 'integer' }, global_per_min: { type: 'integer' } },
    },
    counters: { type: 'object', properties: counterProps([...AI_COUNTERS, ...AI_EXTRA_COUNTERS]) },
    budget: {
      type: 'object',
      properties: {
        daily_spend_usd: { type: 'number' },
        daily_budget_usd: nullableNumber,
        monthly_spend_usd: { type: 'number' },
        monthly_budget_usd: nullableNumber,
        exhausted: { type: 'boolean' },
      },
    },
  },
} as const;

export async function aiStatus(deps: OpsDeps) {
  const { config, resources, budget } = deps;
  await resources.counters.flush();
  const [enabled, hash, spend] = await Promise.all([
    resources.killSwitch.setting(),
    resources.counters.read(),
    budget.status(),
  ]);
  const counters = Object.fromEntries([...AI_COUNTERS, ...AI_EXTRA_COUNTERS].map((n) => [n, hash[n] ?? 0]));
  const exhausted =
    (spend.dailyBudgetUsd !== null && spend.dailySpendUsd >= spend.dailyBudgetUsd) ||
    (spend.monthlyBudgetUsd !== null && spend.monthlySpendUsd >= spend.monthlyBudgetUsd);
  return {
    enabled,
    provider: config.ai.provider,
    model: config.ai.model,
    configured: Boolean(config.ai.apiKey),
    timeout_ms: config.ai.timeoutMs,
    limits: { per_psid_per_min: config.ai.maxCallsPerMinPerPsid, global_per_min: config.ai.maxCallsPerMin },
    counters,
    budget: {
      daily_spend_usd: spend.dailySpendUsd,
      daily_budget_usd: spend.dailyBudgetUsd,
      monthly_spend_usd: spend.monthlySpendUsd,
      monthly_budget_usd: spend.monthlyBudgetUsd,
      exhausted,
    },
  };
}

/** GET /ops/ai/status, POST /ops/ai/toggle, POST /ops/ai/ping. */
export async function aiRoutes(app: FastifyInstance, deps: OpsDeps): Promise<void> {
  const { resources, responder } = deps;

  app.get('/ai/status', { schema: { response: { 200: statusSchema } } }, async () => aiStatus(deps));

  app.post(
    '/ai/toggle',
    {
      schema: {
        body: {
          type: 'object',
          required: ['enabled'],
          additionalProperties: false,
          // `enum` rather than `type: boolean`: Fastify's Ajv coerces types, and "0" or "yes" must not
          // switch the AI for every worker. Without `type`, nothing is coerced.
          properties: { enabled: { enum: [true, false] } },
        },
        response: {
          200: { type: 'object', required: ['enabled'], properties: { enabled: { type: 'boolean' } } },
          400: errorSchema,
        },
      },
    },
    async (request) => {
      const { enabled } = request.body as { enabled: boolean };
      const before = await resources.killSwitch.setting();
      // PostgreSQL first, then the Redis copy every worker reads (packages/ai kill-switch.ts).
      await resources.killSwitch.set(enabled);
      await writeAudit(resources.dbh.db, {
        ...auditContext(request),
        action: 'ai.toggle',
        target: 'ai',
        details: { enabled, previous: before },
      });
      request.log.warn({ enabled, actor: request.opsUser }, 'AI kill switch set');
      return { enabled };
    },
  );

  app.post(
    '/ai/ping',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            required: ['ok'],
            properties: { ok: { type: 'boolean' }, latency_ms: { type: 'integer' }, error: { type: 'string' } },
          },
        },
      },
    },
    async () => responder.ping(),
  );
}
