// Fakes Google's Gemini API with a loopback HTTP server: the real one is unreachable from tests and costs money.
import t from 'tap';
import { AiBlockedError, AiError, AiTimeoutError, GeminiGenerator, MAX_REPLY_CHARS } from '@switchboard/ai';
import { startFakeGemini } from '../helpers/fake-gemini.js';

const API_KEY = 'test-gemini-key-9f8e7d6c';
const MODEL = 'gemini-test-model';

async function setup(t: { teardown(fn: () => unknown): void }, timeoutMs = 2000) {
  const fake = await startFakeGemini();
  t.teardown(() => fake.close());
  const generator = new GeminiGenerator({ apiKey: API_KEY, model: MODEL, baseUrl: fake.url, timeoutMs });
  return { fake, generator };
}

const never = () => new AbortController().signal;

t.test(
  'sends the user text, the model, the key header and the system instruction; returns the text and usage',
  async (t) => {
    const { fake, generator } = await setup(t);
    fake.setReply('Bonjour ! Comment puis-je vous aider ?');
    fake.setUsage(42, 7);
    const result = await generator.generate('Bonjour, vous êtes ouverts ?', never());
    t.same(result, { text: 'Bonjour ! Comment puis-je vous aider ?', usage: { inputTokens: 42, outputTokens: 7 } });
    t.equal(fake.calls.length, 1);
    const call = fake.calls[0]!;
    t.equal(call.model, MODEL);
    t.equal(call.apiKeyPresent, true);
    t.equal(call.userText, 'Bonjour, vous êtes ouverts ?');
    t.ok(call.systemInstruction, 'a system instruction is sent');
    t.match(call.systemInstruction ?? '', /plain text/i);
    t.match(call.systemInstruction ?? '', /same language/i);
    t.match(call.systemInstruction ?? '', /never claim .*human/i);
    t.notMatch(call.systemInstruction ?? '', 'Bonjour', 'the user text is not in the system instruction');
  },
);

t.test('strips Markdown the model emits anyway', async (t) => {
  const { fake, generator } = await setup(t);
  fake.setReply('## Hours\n**Open** daily:\n- 9 to 5\n- *closed* Sunday');
  t.equal((await generator.generate('hours?', never())).text, 'Hours\nOpen daily:\n9 to 5\nclosed Sunday');
});

t.test('a blocked prompt or a safety stop throws AiBlockedError', async (t) => {
  const { fake, generator } = await setup(t);
  fake.setBlocked('SAFETY');
  await t.rejects(generator.generate('something bad', never()), AiBlockedError);
  fake.setBlocked(null);
  for (const reason of ['SAFETY', 'PROHIBITED_CONTENT', 'BLOCKLIST', 'SPII']) {
    fake.setFinishReason(reason);
    await t.rejects(generator.generate('something bad', never()), AiBlockedError, reason);
  }
  fake.setFinishReason('MAX_TOKENS');
  t.equal(
    (await generator.generate('long question', never())).text,
    'Hello from the fake.',
    'a long answer is not a block',
  );
});

t.test('an empty answer is an error, not a reply', async (t) => {
  const { fake, generator } = await setup(t);
  fake.setReply('');
  const err = await generator.generate('hi there', never()).catch((e: unknown) => e);
  t.type(err, AiError);
  t.notOk(err instanceof AiBlockedError);
  t.equal((err as Error).message, 'empty answer');
  fake.setReply('**  **');
  await t.rejects(
    generator.generate('hi there', never()),
    { message: 'empty answer' },
    'nothing left once Markdown is stripped',
  );
});

t.test('an HTTP 500 fails at once, without SDK retries', async (t) => {
  const { fake, generator } = await setup(t);
  fake.failNext(500, 3);
  const err = await generator.generate('hi there', never()).catch((e: unknown) => e);
  t.type(err, Error);
  t.notOk(err instanceof AiBlockedError || err instanceof AiTimeoutError);
  t.equal(fake.calls.length, 1, 'one request only');
});

t.test('its own timeout cuts a slow answer', async (t) => {
  const { fake, generator } = await setup(t, 300);
  fake.setDelay(2000);
  const started = Date.now();
  await t.rejects(generator.generate('hi there', never()), AiTimeoutError);
  t.ok(Date.now() - started < 1000, `gave up after ${Date.now() - started} ms`);
});

t.test("the caller's signal aborts the call", async (t) => {
  const { fake, generator } = await setup(t, 5000);
  fake.setDelay(2000);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  const started = Date.now();
  const err = await generator.generate('hi there', controller.signal).catch((e: unknown) => e);
  t.ok(err instanceof AiError, 'an AiError');
  t.ok(Date.now() - started < 1000, `gave up after ${Date.now() - started} ms`);
});

t.test("as many calls at once as the socket pool allows: the worker's concurrency, not a fixed 16", async (t) => {
  const wide = await startFakeGemini();
  t.teardown(() => wide.close());
  wide.setDelay(300);
  const generator = new GeminiGenerator({
    apiKey: API_KEY,
    model: MODEL,
    baseUrl: wide.url,
    timeoutMs: 5000,
    connections: 40,
  });
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => generator.generate(`question ${i}`, never())));
  t.equal(results.length, 40);
  t.equal(wide.maxInFlight, 40, 'all forty were answered at once');

  const narrow = await startFakeGemini();
  t.teardown(() => narrow.close());
  narrow.setDelay(100);
  const small = new GeminiGenerator({
    apiKey: API_KEY,
    model: MODEL,
    baseUrl: narrow.url,
    timeoutMs: 5000,
    connections: 4,
  });
  await Promise.all(Array.from({ length: 8 }, (_, i) => small.generate(`again ${i}`, never())));
  t.equal(narrow.calls.length, 8);
  t.equal(narrow.maxInFlight, 4, 'a pool of four: four at a time, the rest wait for a socket');
});

t.test(
  'a runaway answer is capped before it is stripped and split: at most MAX_REPLY_CHARS, ending a sentence',
  async (t) => {
    const { fake, generator } = await setup(t);
    fake.setReply('**Yes.** We are open every day of the week. '.repeat(5000)); // ~220 000 characters
    const { text } = await generator.generate('open?', never());
    t.ok(text.length <= MAX_REPLY_CHARS && text.length > MAX_REPLY_CHARS / 2, `${text.length} characters`);
    t.match(text, /week\.$/);
    t.notMatch(text, /\*/, 'stripped');
  },
);
