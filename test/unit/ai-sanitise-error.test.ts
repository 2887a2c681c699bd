// Fakes nothing: pure functions over crafted error objects and model outputs.
import t from 'tap';
import fc from 'fast-check';
import {
  AiBlockedError,
  AiTimeoutError,
  capReplyText,
  MAX_REPLY_CHARS,
  sanitiseAiError,
  stripMarkdown,
} from '@switchboard/ai';

const KEY = 'AIzaSyD-fake-key-0123456789abcdefghijk';

/** What the SDK throws for a non-2xx answer: its message is the JSON error body. */
function apiError(status: number, body: unknown): Error {
  return Object.assign(new Error(JSON.stringify(body)), { name: 'ApiError', status });
}

t.test('sanitiseAiError keeps the useful part of an SDK API error', async (t) => {
  const msg = sanitiseAiError(
    apiError(503, { error: { code: 503, message: 'The model is overloaded.', status: 'UNAVAILABLE' } }),
    [KEY],
  );
  t.equal(msg, 'gemini http 503 UNAVAILABLE: The model is overloaded.');
});

t.test('sanitiseAiError removes the key, key-shaped strings, key= params and the user text', async (t) => {
  const userText = 'my card number is 4111 1111 1111 1111 "quoted"\nnext line';
  const err = apiError(400, {
    error: {
      code: 400,
      status: 'INVALID_ARGUMENT',
      message: `bad request to https://x.googleapis.com/v1beta/models/m:generateContent?key=${KEY}&alt=json for "${userText}"`,
    },
  });
  const msg = sanitiseAiError(err, [KEY, userText]);
  t.notMatch(msg, KEY);
  t.notMatch(msg, '4111');
  t.match(msg, /key=\[redacted\]/);
  t.match(msg, /^gemini http 400 INVALID_ARGUMENT/);

  const other = sanitiseAiError(new Error(`x-goog-api-key: AIzaSomeOtherKey_abcdefghijklmnopqrstu failed`), []);
  t.notMatch(other, 'AIzaSomeOtherKey');
  const bearer = sanitiseAiError(new Error('Authorization: Bearer ya29.secret-token'), []);
  t.notMatch(bearer, 'ya29');
});

t.test('sanitiseAiError is short, and says nothing for values that are not errors', async (t) => {
  t.ok(sanitiseAiError(new Error('x'.repeat(5000)), []).length <= 200);
  t.equal(sanitiseAiError({ prompt: 'secret prompt' }, []), 'unknown error');
  t.equal(sanitiseAiError('a string that might be a prompt', []), 'unknown error');
  t.equal(sanitiseAiError(new AiTimeoutError('timed out after 300 ms'), []), 'timed out after 300 ms');
  t.equal(sanitiseAiError(new AiBlockedError('prompt blocked: SAFETY'), []), 'prompt blocked: SAFETY');
  const network = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
  t.equal(sanitiseAiError(network, []), 'TypeError: fetch failed (ECONNREFUSED)');
});

t.test('property: whatever the error looks like, the key and the user text never come out', async (t) => {
  const shapes = [
    (key: string, text: string) => new Error(`failed for ${text} with ${key}`),
    (key: string, text: string) =>
      apiError(500, { error: { message: `echo ${JSON.stringify(text)} ?key=${key}`, status: 'INTERNAL' } }),
    (key: string, text: string) => apiError(400, `${text}${key}`),
  ];
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(
        fc.uuid(),
        fc.string({ minLength: 8, maxLength: 300, unit: 'binary' }).map((s) => `Ω${s}`),
        fc.integer({ min: 0, max: shapes.length - 1 }),
        (key, text, shape) => {
          const msg = sanitiseAiError(shapes[shape]!(key, text), [key, text]);
          return !msg.includes(key) && !msg.includes(text) && msg.length <= 200;
        },
      ),
    ),
  );
});

t.test('stripMarkdown removes what Messenger would show literally', async (t) => {
  t.equal(stripMarkdown('**Hello** there, *friend*!'), 'Hello there, friend!');
  t.equal(stripMarkdown('# Title\n## Sub\nText'), 'Title\nSub\nText');
  t.equal(stripMarkdown('Options:\n- one\n* two\n+ three'), 'Options:\none\ntwo\nthree');
  t.equal(
    stripMarkdown('See [our site](https://example.com) or `code`.'),
    'See our site (https://example.com) or code.',
  );
  t.equal(stripMarkdown('> quoted\n---\n__bold__ ~~gone~~'), 'quoted\n\nbold gone');
  t.equal(stripMarkdown('```\nblock\n```'), 'block');
  t.equal(stripMarkdown('snake_case_name and 2*3*4 = 24'), 'snake_case_name and 2*3*4 = 24');
  t.equal(stripMarkdown('1. first\n2. second'), '1. first\n2. second');
  t.equal(stripMarkdown('Bonjour, ça va ? 👋'), 'Bonjour, ça va ? 👋');
});

t.test(
  'capReplyText keeps at most MAX_REPLY_CHARS, cut at a sentence end, else a word, else anywhere whole',
  async (t) => {
    t.equal(MAX_REPLY_CHARS, 4000);
    t.equal(capReplyText('Short answer.'), 'Short answer.');
    const sentences = 'This is one sentence. And "another one!" '.repeat(10_000);
    const capped = capReplyText(sentences);
    t.ok(capped.length <= 4000 && capped.length > 3900, `${capped.length} characters`);
    t.ok(sentences.startsWith(capped));
    t.match(capped, /(sentence\.|one!")$/, 'ends a sentence');
    t.equal(capReplyText('word '.repeat(2000), 10), 'word word');
    t.equal(capReplyText('。'.repeat(10) + 'x'.repeat(100), 12), '。'.repeat(10));
    t.equal(capReplyText('x'.repeat(5000)), 'x'.repeat(4000));
    t.equal(capReplyText(`${'x'.repeat(3999)}😊😊`), 'x'.repeat(3999), 'no half emoji');
  },
);
