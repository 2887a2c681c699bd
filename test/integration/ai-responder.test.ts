// Fakes Google's Gemini API with a loopback HTTP server (the real one is unreachable from tests and costs money); Redis and PostgreSQL (the kill switch's store) are real.
import t from 'tap';
import {
  type AiSettings,
  type BusinessInstructions,
  type CounterSink,
  createResponder,
  KillSwitch,
  killSwitchKey,
  type ReplyGenerator,
  SYSTEM_INSTRUCTION,
} from '@switchboard/ai';
import { aiSwitchStore, createDb } from '@switchboard/db';
import type { Redis } from 'ioredis';
import { testDatabase } from '../helpers/db.js';
import { startFakeGemini, type FakeGemini } from '../helpers/fake-gemini.js';
import { testRedis } from '../helpers/redis.js';

const dbh = createDb(await testDatabase(t, 'ai_responder'), { max: 2 });
t.teardown(() => dbh.close());

const API_KEY = 'test-gemini-key-5a4b3c2d1e';
const FALLBACK = 'Thanks for your message, we will get back to you soon.';
const USER_TEXT = 'Hello, my phone number is +33 6 12 34 56 78';

class MemoryCounters implements CounterSink {
  readonly values = new Map<string, number>();
  incr(name: string, by = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + by);
  }
  get(name: string): number {
    return this.values.get(name) ?? 0;
  }
}

interface Setup {
  fake: FakeGemini;
  redis: Redis;
  prefix: string;
  counters: MemoryCounters;
  killSwitch: KillSwitch;
  responder: ReturnType<typeof createResponder>;
}

async function setup(
  t: { teardown(fn: () => unknown): void },
  overrides: Partial<AiSettings> = {},
  generator?: ReplyGenerator | null,
  instructions?: BusinessInstructions,
): Promise<Setup> {
  const { redis, prefix } = await testRedis(t, 'ai-responder');
  const fake = await startFakeGemini();
  t.teardown(() => fake.close());
  const settings: AiSettings = {
    enabled: true,
    apiKey: API_KEY,
    model: 'gemini-test',
    baseUrl: fake.url,
    timeoutMs: 2000,
    maxCallsPerMin: 10,
    maxCallsPerMinPerPsid: 2,
    fallbackReply: FALLBACK,
    priceInputPerMTokUsd: 1,
    priceOutputPerMTokUsd: 4,
    ...overrides,
  };
  const counters = new MemoryCounters();
  // Each test is a deployment of its own: nothing stored yet, so its AI_ENABLED (settings.enabled) is stored.
  await dbh.sql`delete from ai_switch`;
  const killSwitch = new KillSwitch(redis, killSwitchKey(prefix), aiSwitchStore(dbh.db), settings.enabled);
  await killSwitch.restore();
  const responder = createResponder({
    redis,
    prefix,
    settings,
    killSwitch,
    counters,
    ...(generator === undefined ? {} : { generator }),
    ...(instructions ? { instructions } : {}),
  });
  return { fake, redis, prefix, counters, killSwitch, responder };
}

t.test('the AI answers when every gate admits the call', async (t) => {
  const { fake, counters, responder } = await setup(t);
  fake.setReply('Hi! How can I help?');
  fake.setUsage(100, 20);
  const decision = await responder.decide({ userHash: 'u1', text: USER_TEXT });
  t.match(decision, {
    text: 'Hi! How can I help?',
    path: 'ai',
    reason: 'ai',
    usage: { inputTokens: 100, outputTokens: 20 },
  });
  t.equal(decision.error, undefined);
  t.type(decision.latencyMs, 'number');
  t.equal(fake.calls.length, 1);
  t.equal(fake.calls[0]?.userText, USER_TEXT);
  t.same(Object.fromEntries(counters.values), { ai_calls: 1 });
});

t.test('kill switch off → fallback, no AI call', async (t) => {
  const { fake, counters, responder, killSwitch } = await setup(t);
  await killSwitch.set(false);
  const decision = await responder.decide({ userHash: 'u1', text: USER_TEXT });
  t.match(decision, { text: FALLBACK, path: 'fallback', reason: 'kill_switch' });
  t.equal(fake.calls.length, 0);
  t.same(Object.fromEntries(counters.values), { fallbacks: 1 });
});

t.test('AI_ENABLED=false with no stored toggle → kill_switch', async (t) => {
  const { fake, responder } = await setup(t, { enabled: false });
  t.equal((await responder.decide({ userHash: 'u1', text: USER_TEXT })).reason, 'kill_switch');
  t.equal(fake.calls.length, 0);
});

t.test('no API key → ai_unconfigured, and ping says so', async (t) => {
  const { fake, counters, responder } = await setup(t, { apiKey: undefined });
  t.match(await responder.decide({ userHash: 'u1', text: USER_TEXT }), {
    path: 'fallback',
    reason: 'ai_unconfigured',
    text: FALLBACK,
  });
  t.same(await responder.ping(), { ok: false, error: 'ai_unconfigured' });
  t.equal(fake.calls.length, 0);
  t.equal(counters.get('fallbacks'), 1);
});

t.test('per-user and global rate limits → rate_limited_user / rate_limited_global', async (t) => {
  const { fake, counters, responder } = await setup(t, { maxCallsPerMinPerPsid: 1, maxCallsPerMin: 2 });
  t.equal((await responder.decide({ userHash: 'a', text: USER_TEXT })).reason, 'ai');
  t.match(await responder.decide({ userHash: 'a', text: USER_TEXT }), {
    path: 'fallback',
    reason: 'rate_limited_user',
  });
  t.equal((await responder.decide({ userHash: 'b', text: USER_TEXT })).reason, 'ai');
  t.match(await responder.decide({ userHash: 'c', text: USER_TEXT }), {
    path: 'fallback',
    reason: 'rate_limited_global',
  });
  t.equal(fake.calls.length, 2);
  t.equal(counters.get('ai_calls'), 2);
  t.equal(counters.get('ai_calls_blocked_per_psid'), 1);
  t.equal(counters.get('ai_calls_blocked_global'), 1);
  t.equal(counters.get('fallbacks'), 2);
});

t.test('a slow AI is cut at timeoutMs → timeout, well under a second', async (t) => {
  const { fake, counters, responder } = await setup(t, { timeoutMs: 300 });
  fake.setDelay(2000);
  const started = Date.now();
  const decision = await responder.decide({ userHash: 'u1', text: USER_TEXT });
  const took = Date.now() - started;
  t.match(decision, { path: 'fallback', reason: 'timeout', text: FALLBACK });
  t.ok(took < 1000, `decided in ${took} ms`);
  t.ok(decision.latencyMs >= 290 && decision.latencyMs < 1000, `latencyMs ${decision.latencyMs}`);
  t.same(Object.fromEntries(counters.values), { ai_calls: 1, ai_errors: 1, ai_timeouts: 1, fallbacks: 1 });
});

t.test('the deadline holds even for a generator that ignores its signal', async (t) => {
  const stubborn: ReplyGenerator = { generate: () => new Promise(() => {}) };
  const { responder } = await setup(t, { timeoutMs: 200 }, stubborn);
  const started = Date.now();
  const decision = await responder.decide({ userHash: 'u1', text: USER_TEXT });
  t.equal(decision.reason, 'timeout');
  // A broken deadline never settles at all; the margin is for a loaded CI machine.
  t.ok(Date.now() - started < 1500, `decided in ${Date.now() - started} ms`);
});

t.test('a blocked prompt → blocked', async (t) => {
  const { fake, counters, responder } = await setup(t);
  fake.setBlocked('PROHIBITED_CONTENT');
  const decision = await responder.decide({ userHash: 'u1', text: USER_TEXT });
  t.match(decision, { path: 'fallback', reason: 'blocked', text: FALLBACK, error: /PROHIBITED_CONTENT/ });
  t.same(Object.fromEntries(counters.values), { ai_calls: 1, ai_errors: 1, ai_blocked: 1, fallbacks: 1 });
});

t.test('an API error → error, sanitised: neither the key nor the user text', async (t) => {
  const { fake, counters, responder } = await setup(t);
  // A hostile error body that echoes both, as a proxy or a verbose error page might.
  fake.failNext(500, 1, `upstream failed for "${USER_TEXT}" at https://x/y?key=${API_KEY}`);
  const decision = await responder.decide({ userHash: 'u1', text: USER_TEXT });
  t.match(decision, { path: 'fallback', reason: 'error', text: FALLBACK });
  t.match(decision.error, /500/);
  t.notMatch(decision.error ?? '', API_KEY);
  t.notMatch(decision.error ?? '', USER_TEXT);
  t.notMatch(decision.error ?? '', '12 34 56');
  t.ok((decision.error ?? '').length <= 200);
  t.same(Object.fromEntries(counters.values), { ai_calls: 1, ai_errors: 1, fallbacks: 1 });
});

t.test('an empty answer → error', async (t) => {
  const { fake, responder } = await setup(t);
  fake.setReply('');
  t.match(await responder.decide({ userHash: 'u1', text: USER_TEXT }), { reason: 'error', error: 'empty answer' });
});

t.test('spend crossing the daily budget switches replies to budget', async (t) => {
  // 1 USD/MTok in, 4 USD/MTok out: 100k in + 25k out = 0.2 USD per call; budget 0.3 USD.
  const { fake, counters, responder } = await setup(t, { dailyBudgetUsd: 0.3 });
  fake.setUsage(100_000, 25_000);
  t.equal((await responder.decide({ userHash: 'a', text: USER_TEXT })).reason, 'ai');
  t.equal((await responder.decide({ userHash: 'b', text: USER_TEXT })).reason, 'ai', '0.2 < 0.3: still admitted');
  t.match(await responder.decide({ userHash: 'c', text: USER_TEXT }), {
    path: 'fallback',
    reason: 'budget',
    text: FALLBACK,
  });
  t.equal(fake.calls.length, 2);
  t.equal(counters.get('ai_budget_blocked'), 1);
  t.equal(counters.get('fallbacks'), 1);
});

t.test('ping: one minimal call, past the limits, within the timeout, sanitised on failure', async (t) => {
  const { fake, responder } = await setup(t, { maxCallsPerMin: 0, timeoutMs: 300 });
  const ok = await responder.ping();
  t.equal(ok.ok, true, 'a global limit of 0 does not stop the ping');
  if (ok.ok) t.ok(ok.latency_ms >= 0 && ok.latency_ms < 300);
  t.equal(fake.calls.length, 1);
  t.equal(fake.calls[0]?.userText, 'ping');

  fake.failNext(403, 1, `API key not valid: key=${API_KEY}`);
  const denied = await responder.ping();
  t.equal(denied.ok, false);
  if (!denied.ok) {
    t.match(denied.error, /403/);
    t.notMatch(denied.error, API_KEY);
  }

  fake.setDelay(2000);
  const started = Date.now();
  t.match(await responder.ping(), { ok: false, error: /timed out/ });
  t.ok(Date.now() - started < 1000);
});

t.test("the business's instructions: read per page on the AI path only, after the built-in rules", async (t) => {
  const asked: string[] = [];
  const source: BusinessInstructions = {
    forPage: async (pageId) => {
      asked.push(pageId);
      return pageId === '111' ? 'We repair bikes. Open 8 to 16.' : undefined;
    },
  };
  const { fake, responder } = await setup(
    t,
    { maxCallsPerMinPerPsid: 10, instructions: 'the default, unused when a source is given' },
    undefined,
    source,
  );
  await responder.decide({ userHash: 'u1', text: USER_TEXT, pageId: '111' });
  await responder.decide({ userHash: 'u1', text: USER_TEXT, pageId: '222' });
  t.same(asked, ['111', '222']);
  t.equal(
    fake.calls[0]?.systemInstruction,
    `${SYSTEM_INSTRUCTION}\n\nThe business wrote the instructions between the tags below: facts about it (such as opening hours, prices, services and policies) and how it wants you to speak.\nUse them to answer. Where they conflict with the rules above, follow the rules above.\n<business_instructions>\nWe repair bikes. Open 8 to 16.\n</business_instructions>`,
  );
  t.equal(fake.calls[1]?.systemInstruction, SYSTEM_INSTRUCTION, 'a page with nothing gets the rules alone');

  const switchedOff = await setup(t, { enabled: false }, undefined, source);
  t.match(await switchedOff.responder.decide({ userHash: 'u1', text: USER_TEXT, pageId: '111' }), {
    reason: 'kill_switch',
  });
  t.same(asked, ['111', '222'], 'a fallback decided by a gate reads nothing');
});

t.test('without a source, every page gets the default from the settings', async (t) => {
  const { fake, responder } = await setup(t, { instructions: 'Default: a flower shop.' });
  await responder.decide({ userHash: 'u1', text: USER_TEXT, pageId: '333' });
  t.match(
    fake.calls[0]?.systemInstruction,
    /^[\s\S]+\n<business_instructions>\nDefault: a flower shop\.\n<\/business_instructions>$/,
  );
  t.ok(fake.calls[0]?.systemInstruction?.startsWith(SYSTEM_INSTRUCTION));
});

t.test('a failed read of the instructions propagates (the job is retried) and spends no rate-limit slot', async (t) => {
  const failing: BusinessInstructions = { forPage: () => Promise.reject(new Error('database unreachable')) };
  const { fake, redis, prefix, responder } = await setup(t, {}, undefined, failing);
  await t.rejects(responder.decide({ userHash: 'u1', text: USER_TEXT, pageId: '111' }), /database unreachable/);
  t.equal(fake.calls.length, 0);
  t.same(await redis.keys(`${prefix}:ai:rl*`), [], 'no slot taken');
});

t.test('the conversation history is read only for an AI call, and reaches the model before the message', async (t) => {
  let reads = 0;
  const history = async () => {
    reads++;
    return [
      { role: 'user' as const, text: 'Do you deliver?' },
      { role: 'model' as const, text: 'Yes, within the city.' },
    ];
  };
  const off = await setup(t, { enabled: false });
  t.equal((await off.responder.decide({ userHash: 'u1', text: 'And on Sunday?', history })).reason, 'kill_switch');
  t.equal(reads, 0, 'a fallback reads no history');

  const { fake, counters, responder } = await setup(t);
  fake.setReply('Not on Sundays.');
  const decision = await responder.decide({ userHash: 'u2', text: 'And on Sunday?', history });
  t.equal(decision.path, 'ai');
  t.equal(reads, 1);
  t.same(fake.calls[0]?.contents, [
    { role: 'user', text: 'Do you deliver?' },
    { role: 'model', text: 'Yes, within the city.' },
    { role: 'user', text: 'And on Sunday?' },
  ]);
  t.equal(counters.get('ai_history_turns'), 2, 'history length counted');
});
