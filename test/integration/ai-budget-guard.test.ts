// Fakes nothing: spend is counted on the real Redis; token counts are supplied directly.
import t from 'tap';
import { BudgetGuard } from '@switchboard/ai';
import { scanAll, testRedis } from '../helpers/redis.js';

// 1 USD per million input tokens, 4 USD per million output tokens.
const PRICES = { priceInputPerMTokUsd: 1, priceOutputPerMTokUsd: 4 };
const DAY1 = new Date('2031-03-30T23:00:00Z');
const DAY2 = new Date('2031-03-31T01:00:00Z');
const NEXT_MONTH = new Date('2031-04-01T00:00:00Z');

t.test('spend reaching the daily budget exhausts it, for that UTC day only', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-budget');
  const guard = new BudgetGuard(redis, `${prefix}:ai:budget`, { ...PRICES, dailyBudgetUsd: 0.5 });
  t.equal(await guard.isExhausted(DAY1), false);
  await guard.record({ inputTokens: 100_000, outputTokens: 50_000 }, DAY1); // 0.1 + 0.2
  t.equal(await guard.isExhausted(DAY1), false);
  await guard.record({ inputTokens: 200_000, outputTokens: 0 }, DAY1); // 0.5 in total
  t.equal(await guard.isExhausted(DAY1), true, 'spend ≥ budget');
  t.equal(await guard.isExhausted(DAY2), false, 'a new UTC day starts from zero');
  t.same(await guard.status(DAY1), {
    dailySpendUsd: 0.5,
    dailyBudgetUsd: 0.5,
    monthlySpendUsd: 0.5,
    monthlyBudgetUsd: null,
  });
});

t.test('the monthly budget adds up across days and resets with the month', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-budget');
  const guard = new BudgetGuard(redis, `${prefix}:ai:budget`, { ...PRICES, monthlyBudgetUsd: 1 });
  await guard.record({ inputTokens: 600_000, outputTokens: 0 }, DAY1);
  t.equal(await guard.isExhausted(DAY2), false);
  await guard.record({ inputTokens: 0, outputTokens: 100_000 }, DAY2);
  t.equal(await guard.isExhausted(DAY2), true);
  const status = await guard.status(DAY2);
  t.equal(status.dailySpendUsd, 0.4);
  t.equal(status.monthlySpendUsd, 1);
  t.equal(await guard.isExhausted(NEXT_MONTH), false);
});

t.test('no budget means unlimited; spend is still counted and its keys expire', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-budget');
  const guard = new BudgetGuard(redis, `${prefix}:ai:budget`, PRICES);
  await guard.record({ inputTokens: 50_000_000, outputTokens: 0 }, DAY1);
  t.equal(await guard.isExhausted(DAY1), false);
  t.same(await guard.status(DAY1), {
    dailySpendUsd: 50,
    dailyBudgetUsd: null,
    monthlySpendUsd: 50,
    monthlyBudgetUsd: null,
  });
  const keys = await scanAll(redis, `${prefix}:ai:budget*`);
  t.equal(keys.length, 2);
  for (const key of keys) t.ok((await redis.ttl(key)) > 0, `${key} expires`);
});

t.test('a zero budget means no AI calls; spend from separate workers adds up', async (t) => {
  const one = await testRedis(t, 'ai-budget');
  const two = await testRedis(t, 'ai-budget');
  const keyPrefix = `${one.prefix}:ai:budget`;
  t.equal(await new BudgetGuard(one.redis, keyPrefix, { ...PRICES, dailyBudgetUsd: 0 }).isExhausted(DAY1), true);
  const a = new BudgetGuard(one.redis, keyPrefix, PRICES);
  const b = new BudgetGuard(two.redis, keyPrefix, PRICES);
  await Promise.all(
    Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).record({ inputTokens: 1000, outputTokens: 1000 }, DAY1)),
  );
  t.equal((await a.status(DAY1)).dailySpendUsd, 0.1);
});

t.test('spends recorded together are added in one script call per UTC day, and add up', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-budget');
  const guard = new BudgetGuard(redis, `${prefix}:ai:budget`, PRICES);
  // Loads the script first, so each add below is one EVALSHA.
  await guard.record({ inputTokens: 1, outputTokens: 0 }, DAY1);
  const watcher = redis.duplicate();
  const monitor = await watcher.monitor();
  t.teardown(() => {
    monitor.disconnect();
    watcher.disconnect();
  });
  const adds: string[] = [];
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (String(args[0]).toLowerCase().startsWith('eval') && args.some((a) => String(a).startsWith(`${prefix}:`)))
      adds.push(String(args[2]));
  });
  await Promise.all([
    ...Array.from({ length: 20 }, () => guard.record({ inputTokens: 10_000, outputTokens: 0 }, DAY1)),
    ...Array.from({ length: 5 }, () => guard.record({ inputTokens: 0, outputTokens: 10_000 }, DAY2)),
  ]);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(adds.length, 2, 'one call for each day');
  const [day1, day2] = [await guard.status(DAY1), await guard.status(DAY2)];
  t.equal(day1.dailySpendUsd, 0.200001, "the first day's twenty spends and the warm-up");
  t.equal(day2.dailySpendUsd, 0.2, "the second day's five");
  t.equal(day2.monthlySpendUsd, 0.400001, 'the month holds both');
});
