/**
 * Splits a reply into parts each channel accepts, so Meta never rejects one for its length.
 *
 * Limits (https://developers.facebook.com/docs/messenger-platform/reference/send-api/):
 * Messenger text must be *fewer than* 2000 characters; Instagram text at most 1000 bytes of UTF-8;
 * WhatsApp text up to 4096 characters. "Characters" are counted as UTF-16 code units, which is never
 * fewer than what Meta counts (code points), so a part we accept Meta accepts too.
 */
import type { Channel } from './channel.js';

interface Limit {
  readonly max: number;
  readonly unit: 'utf16' | 'utf8';
}

export const MESSAGE_LIMITS: Readonly<Record<Channel, Limit>> = Object.freeze({
  messenger: { max: 1999, unit: 'utf16' },
  instagram: { max: 1000, unit: 'utf8' },
  whatsapp: { max: 4096, unit: 'utf16' },
});

// Created once: constructing a Segmenter is far costlier than using one.
const graphemeSegmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Ends a sentence when followed by whitespace (or the end). Includes Arabic ؟, Urdu ۔ and Devanagari ।. */
const SPACED_TERMINATORS = new Set(['.', '!', '?', '…', '؟', '۔', '।']);
/** CJK full-width terminators end a sentence even with no space after them: CJK text has none. */
const CJK_TERMINATORS = new Set(['。', '！', '？']);
/** Closing quotes and brackets may sit between a terminator and the space: `He said "Hi." Then`. */
const CLOSERS = new Set(['"', "'", ')', ']', '}', '»', '”', '’', '」', '』', '）']);

const startsWithSpace = (g: string): boolean => /^\s/.test(g);
const isAllSpace = (g: string): boolean => /^\s+$/.test(g);

function sizer(unit: Limit['unit']): (s: string) => number {
  return unit === 'utf8' ? (s) => Buffer.byteLength(s, 'utf8') : (s) => s.length;
}

/** Is cutting before grapheme `i` (after `g[i - 1]`) a sentence end? */
function isSentenceEnd(g: readonly string[], i: number): boolean {
  const prev = g[i - 1];
  if (prev !== undefined && CJK_TERMINATORS.has(prev)) return true;
  const next = g[i];
  if (next !== undefined && !startsWithSpace(next)) return false;
  for (let j = i - 1; j >= 0; j--) {
    const c = g[j] as string;
    if (SPACED_TERMINATORS.has(c)) return true;
    if (!CLOSERS.has(c)) return false;
  }
  return false;
}

/** Last resort for a single grapheme above the limit (pathological combining sequences): split by code point. */
function splitGrapheme(grapheme: string, max: number, size: (s: string) => number, out: string[]): void {
  let piece = '';
  for (const cp of grapheme) {
    if (piece !== '' && size(piece + cp) > max) {
      out.push(piece);
      piece = '';
    }
    piece += cp;
  }
  if (piece !== '') out.push(piece);
}

/**
 * Greedy: each part takes as much as fits, cut at the last sentence end when that keeps the part at
 * least half full, otherwise at the last whitespace, otherwise at any sentence end, otherwise
 * between graphemes (never inside a surrogate pair or a combined emoji).
 */
export function splitMessage(text: string, channel: Channel): string[] {
  const { max, unit } = MESSAGE_LIMITS[channel];
  const size = sizer(unit);
  const whole = text.trim();
  if (whole === '') return [];
  if (size(whole) <= max) return [whole];

  const g = Array.from(graphemeSegmenter.segment(whole), (s) => s.segment);
  const n = g.length;
  const cum = new Array<number>(n + 1);
  cum[0] = 0;
  for (let i = 0; i < n; i++) cum[i + 1] = (cum[i] as number) + size(g[i] as string);
  const sizeOf = (from: number, to: number) => (cum[to] as number) - (cum[from] as number);

  const parts: string[] = [];
  const push = (s: string) => {
    const part = s.trim();
    if (part !== '') parts.push(part);
  };

  let start = 0;
  while (start < n) {
    while (start < n && isAllSpace(g[start] as string)) start++;
    if (start >= n) break;

    let end = start;
    while (end < n && sizeOf(start, end + 1) <= max) end++;
    if (end === n) {
      push(g.slice(start).join(''));
      break;
    }
    if (end === start) {
      splitGrapheme(g[start] as string, max, size, parts);
      start++;
      continue;
    }

    let lastSentence = -1;
    let lastWord = -1;
    for (let i = end; i > start && (lastSentence < 0 || lastWord < 0); i--) {
      if (lastWord < 0 && startsWithSpace(g[i] as string)) lastWord = i;
      if (lastSentence < 0 && isSentenceEnd(g, i)) lastSentence = i;
    }
    let cut = end;
    if (lastSentence > 0 && sizeOf(start, lastSentence) * 2 >= max) cut = lastSentence;
    else if (lastWord > 0) cut = lastWord;
    else if (lastSentence > 0) cut = lastSentence;

    push(g.slice(start, cut).join(''));
    start = cut;
  }
  return parts;
}
