import type { Redis } from 'ioredis';
import { Batcher, defineRedisScripts, loadRedisScript, runRedisScript } from '@switchboard/queue';
import type { AiSettings } from './ai-settings.js';
import type { TokenUsage } from './reply-decision.js';

export type BudgetSettings = Pick<
  AiSettings,
  'dailyBudgetUsd' | 'monthlyBudgetUsd' | 'priceInputPerMTokUsd' | 'priceOutputPerMTokUsd'
>;

export interface BudgetStatus {
  dailySpendUsd: number;
  dailyBudgetUsd: number | null;
  monthlySpendUsd: number;
  monthlyBudgetUsd: number | null;
}

/** Long enough to read yesterday's and last month's spend for a while, short enough to clean up. */
const DAY_KEY_TTL_S = 3 * 24 * 3600;
const MONTH_KEY_TTL_S = 35 * 24 * 3600;
const MICRO = 1_000_000;

const ADD = loadRedisScript(new URL('../src/scripts/', import.meta.url), 'budget-add', 'sbBudgetAdd');

/**
 * AI cost guard: today's (UTC) and this month's spend, counted in Redis across all workers, against
 * optional USD budgets. Spend is stored in micro-dollars: a price per million tokens is then exactly
 * the micro-dollar price of one token.
 *
 * The check happens before a call and the spend is recorded after it, so calls in flight when the
 * budget is crossed may overshoot it by at most one call each; that is the price of not holding a
 * lock across a network call. The spends of calls that end together are added in one script call
 * (each caller still waits for its own to be written).
 */
export class BudgetGuard {
  readonly #redis: Redis;
  readonly #keyPrefix: string;
  readonly #settings: BudgetSettings;
  readonly #adds: Batcher<{ micro: number; day: string; month: string }, void>;

  constructor(redis: Redis, keyPrefix: string, settings: BudgetSettings) {
    // Defined here, when the guard is built with its connection, never first at call time: ioredis
    // copies a connection's scripts onto each auto-pipelined batch when the batch is created.
    defineRedisScripts(redis, [ADD]);
    this.#redis = redis;
    this.#keyPrefix = keyPrefix;
    this.#settings = settings;
    this.#adds = new Batcher((items) => this.#add(items), { maxInFlight: 1 });
  }

  async isExhausted(now: Date = new Date()): Promise<boolean> {
    const { dailyBudgetUsd, monthlyBudgetUsd } = this.#settings;
    if (dailyBudgetUsd === undefined && monthlyBudgetUsd === undefined) return false;
    const { dailySpendUsd, monthlySpendUsd } = await this.status(now);
    return (
      (dailyBudgetUsd !== undefined && dailySpendUsd >= dailyBudgetUsd) ||
      (monthlyBudgetUsd !== undefined && monthlySpendUsd >= monthlyBudgetUsd)
    );
  }

  async record(usage: TokenUsage, now: Date = new Date()): Promise<void> {
    const micro =
      Math.max(0, usage.inputTokens) * this.#settings.priceInputPerMTokUsd +
      Math.max(0, usage.outputTokens) * this.#settings.priceOutputPerMTokUsd;
    if (!(micro > 0)) return;
    await this.#adds.add({ micro, ...this.#keys(now) });
  }

  /** One script call per day and month among the spends (one pair but around midnight). */
  async #add(items: ReadonlyArray<{ micro: number; day: string; month: string }>): Promise<void[]> {
    const sums = new Map<string, { day: string; month: string; micro: number }>();
    for (const { micro, day, month } of items) {
      const sum = sums.get(day) ?? { day, month, micro: 0 };
      sum.micro += micro;
      sums.set(day, sum);
    }
    // One script rather than MULTI: atomic the same, and cheaper on a connection that also carries
    // BullMQ's scripts (an ioredis MULTI copies every defined script onto itself).
    for (const { day, month, micro } of sums.values())
      await runRedisScript(this.#redis, ADD, [day, month], [micro, DAY_KEY_TTL_S, MONTH_KEY_TTL_S]);
    return items.map(() => undefined);
  }

  async status(now: Date = new Date()): Promise<BudgetStatus> {
    const { day, month } = this.#keys(now);
    const [daily, monthly] = await this.#redis.mget(day, month);
    return {
      dailySpendUsd: toUsd(daily),
      dailyBudgetUsd: this.#settings.dailyBudgetUsd ?? null,
      monthlySpendUsd: toUsd(monthly),
      monthlyBudgetUsd: this.#settings.monthlyBudgetUsd ?? null,
    };
  }

  #keys(now: Date): { day: string; month: string } {
    const iso = now.toISOString();
    // One hash tag so MULTI and MGET over both keys stay in one slot on Redis Cluster.
    return {
      day: `${this.#keyPrefix}:{ai-budget}:day:${iso.slice(0, 10)}`,
      month: `${this.#keyPrefix}:{ai-budget}:month:${iso.slice(0, 7)}`,
    };
  }
}

function toUsd(micro: string | null | undefined): number {
  const value = micro == null ? 0 : Number(micro);
  return Number.isFinite(value) ? value / MICRO : 0;
}
