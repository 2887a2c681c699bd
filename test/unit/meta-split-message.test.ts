// Fakes nothing: splitMessage is pure; fast-check generates texts (emoji, CJK, Arabic, long words) to probe the limits.
import fc from 'fast-check';
import t from 'tap';
import { type Channel, MAX_REPLY_PARTS, MESSAGE_LIMITS, splitMessage } from '@switchboard/meta';

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const fits = (part: string, channel: Channel) =>
  channel === 'instagram' ? bytes(part) <= 1000 : channel === 'messenger' ? part.length < 2000 : part.length <= 4096;
const squash = (s: string) => s.replace(/\s+/g, '');
const channels: Channel[] = ['messenger', 'instagram', 'whatsapp'];

t.test('limits match Meta’s documented ones', async (t) => {
  t.same(MESSAGE_LIMITS, {
    messenger: { max: 1999, unit: 'utf16' },
    instagram: { max: 1000, unit: 'utf8' },
    whatsapp: { max: 4096, unit: 'utf16' },
  });
});

t.test('short and empty texts', async (t) => {
  for (const channel of channels) {
    t.same(splitMessage('', channel), []);
    t.same(splitMessage('  \n\t ', channel), []);
    t.same(splitMessage('  Hello there.  ', channel), ['Hello there.']);
  }
  t.same(splitMessage('x'.repeat(1999), 'messenger'), ['x'.repeat(1999)], 'exactly at the limit stays whole');
  t.equal(splitMessage('x'.repeat(2000), 'messenger').length, 2, '2000 characters is one too many');
  t.same(splitMessage('ä'.repeat(500), 'instagram'), ['ä'.repeat(500)], '1000 bytes fits');
  t.equal(splitMessage('ä'.repeat(501), 'instagram').length, 2, '1002 bytes does not');
  t.equal(splitMessage('x'.repeat(4096), 'whatsapp').length, 1);
  t.equal(splitMessage('x'.repeat(4097), 'whatsapp').length, 2);
});

t.test('prefers sentence boundaries', async (t) => {
  const sentence = `${'word '.repeat(59)}end.`; // 299 chars
  const text = Array.from({ length: 10 }, () => sentence).join(' '); // ~3000 chars
  const parts = splitMessage(text, 'messenger');
  t.equal(parts.length, 2);
  for (const p of parts) {
    t.ok(p.endsWith('end.'), 'each part ends a sentence');
    t.ok(fits(p, 'messenger'));
  }
  t.equal(parts.join(' '), text);
});

t.test('sentence ends: ? ! … closing quotes, Arabic ؟, and CJK without spaces', async (t) => {
  const filler = 'a '.repeat(260); // 520 chars, so two sentences fit in one Instagram part
  for (const end of ['?', '!', '…', '."', '؟']) {
    const text = `${filler}one${end} ${filler}two${end} ${filler}three${end}`;
    const parts = splitMessage(text, 'instagram');
    t.ok(parts.length > 1, `split with ${end}`);
    t.ok(
      parts.slice(0, -1).every((p) => p.endsWith(`${end}`)),
      `cut after ${end}`,
    );
  }
  const cjk = '今日は良い天気です。'.repeat(60); // 600 chars × 3 bytes, no spaces
  const parts = splitMessage(cjk, 'instagram');
  t.ok(parts.length >= 2);
  for (const p of parts) {
    t.ok(bytes(p) <= 1000);
    t.ok(p.endsWith('。'), 'CJK split at 。');
  }
  t.equal(parts.join(''), cjk);
});

t.test('falls back to word boundaries, then to graphemes', async (t) => {
  const words = 'lorem '.repeat(500).trim(); // no sentence end at all
  const parts = splitMessage(words, 'messenger');
  t.ok(parts.length >= 2);
  t.ok(
    parts.every((p) => /^(lorem ?)+$/.test(p)),
    'never cuts a word',
  );

  const noSpaces = 'x'.repeat(4500);
  t.same(
    splitMessage(noSpaces, 'messenger').map((p) => p.length),
    [1999, 1999, 502],
  );
});

t.test('never splits emoji, surrogate pairs or combined graphemes', async (t) => {
  const family = '👨‍👩‍👧‍👦'; // 11 UTF-16 units, 25 UTF-8 bytes, one grapheme
  const parts = splitMessage(family.repeat(100), 'instagram');
  for (const p of parts) {
    t.ok(bytes(p) <= 1000);
    t.equal(p.replaceAll(family, ''), '', 'only whole families in each part');
  }
  t.equal(parts.join(''), family.repeat(100));

  const flags = '🇦🇹'.repeat(1200); // 4 UTF-16 units each
  for (const p of splitMessage(flags, 'messenger')) {
    t.ok(p.length <= 1999);
    t.equal(p.length % 4, 0, 'flags stay whole');
    t.doesNotThrow(() => encodeURIComponent(p), 'no lone surrogate');
  }
});

t.test('Arabic and German across the Instagram byte limit', async (t) => {
  const arabic = 'مرحبا بكم في متجرنا، نحن سعداء بخدمتكم. '.repeat(40);
  const german = 'Grüße aus München, die Größe ist verfügbar. '.repeat(40);
  for (const text of [arabic, german]) {
    const parts = splitMessage(text, 'instagram');
    t.ok(parts.length > 1);
    t.ok(parts.every((p) => bytes(p) <= 1000 && p.endsWith('.')));
    t.equal(squash(parts.join(' ')), squash(text));
  }
});

t.test('a single grapheme above the limit is split by code point', async (t) => {
  const monster = `a${'\u0301'.repeat(600)}`; // one grapheme, 1201 bytes
  const parts = splitMessage(monster, 'instagram');
  t.ok(parts.length >= 2);
  t.ok(parts.every((p) => bytes(p) <= 1000));
  t.equal(parts.join(''), monster);
});

t.test('property: every part within its limit, non-empty, trimmed, content preserved in order', async (t) => {
  const piece = fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 30 }),
    fc.constantFrom('. ', '! ', '? ', '… ', '。', '؟ ', ' ', '\n', '\t', '😊', '👨‍👩‍👧', '🇩🇪', 'ä', '日本語', 'مرحبا'),
    fc.string({ unit: 'binary', maxLength: 10 }),
    fc.string({ minLength: 100, maxLength: 1500 }),
  );
  const text = fc.array(piece, { maxLength: 200 }).map((ps) => ps.join(''));
  fc.assert(
    fc.property(text, fc.constantFrom(...channels), (s, channel) => {
      const parts = splitMessage(s, channel, { maxParts: Infinity });
      for (const p of parts) {
        if (!fits(p, channel) || p === '' || p !== p.trim()) return false;
      }
      return squash(parts.join(' ')) === squash(s);
    }),
    { numRuns: 300 },
  );
  t.pass('property held');
});

/**
 * Counts the code units handed to Intl.Segmenter: on Node 20 segmenting one string costs time
 * quadratic in its length, so the splitter must read bounded windows, whatever the text's length.
 */
function scans(run: () => void): { calls: number; total: number; longest: number } {
  const original = Intl.Segmenter.prototype.segment;
  const seen = { calls: 0, total: 0, longest: 0 };
  Intl.Segmenter.prototype.segment = function (this: Intl.Segmenter, input: string) {
    seen.calls += 1;
    seen.total += input.length;
    seen.longest = Math.max(seen.longest, input.length);
    return original.call(this, input);
  };
  try {
    run();
  } finally {
    Intl.Segmenter.prototype.segment = original;
  }
  return seen;
}

t.test('work is linear: each scan reads a bounded window, all scans together a few times the text', async (t) => {
  const text = 'A sentence of some words, and then a few more. '.repeat(4300); // ~206 000 characters
  let parts: string[] = [];
  const seen = scans(() => {
    parts = splitMessage(text, 'messenger', { maxParts: Infinity });
  });
  t.ok(parts.length >= 100, `${parts.length} parts`);
  t.equal(squash(parts.join(' ')), squash(text), 'content preserved');
  t.ok(seen.longest <= 2 * 1999, `longest scan ${seen.longest} code units`);
  t.ok(seen.total <= 3 * text.length, `${seen.total} code units scanned for ${text.length}`);
  t.equal(seen.calls, parts.length, 'one scan per part');
});

t.test(
  'a reply is at most MAX_REPLY_PARTS parts, cut at a sentence end, and a 1 MB text is read only that far',
  async (t) => {
    t.equal(MAX_REPLY_PARTS, 5);
    const text = 'Short sentence here. Another one follows it! '.repeat(23_000); // ~1 MB
    let parts: string[] = [];
    const seen = scans(() => {
      parts = splitMessage(text, 'instagram');
    });
    t.equal(parts.length, 5);
    t.ok(
      parts.every((p) => bytes(p) <= 1000 && /[.!]$/.test(p)),
      'each part ends a sentence',
    );
    t.ok(text.startsWith(parts.join(' ')), 'the first five parts of the text, nothing else');
    t.equal(seen.calls, 5, 'one scan per part');
    t.ok(seen.total <= 5 * 2 * 1000, `${seen.total} code units scanned`);
    t.same(splitMessage(text, 'messenger', { maxParts: 2 }).length, 2);
  },
);
