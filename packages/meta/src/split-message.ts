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

function sizer(unit: Limit['unit']): (s: string) => number {
  return unit === 'utf8' ? (s) => Buffer.byteLength(s, 'utf8') : (s) => s.length;
}

/** Is cutting before grapheme `i` (after `g[i - 1]`) a sentence end? (Looks back within the part only.) */
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
 * At most this many messages per reply: past it the rest of a reply is dropped, at a sentence or
 * word boundary like every cut. A user gets a few messages, never a flood, whatever the model wrote.
 */
export const MAX_REPLY_PARTS = 5;

/**
 * Graphemes are read one window at a time, never the whole text: on Node 20 segmenting a string
 * costs time quadratic in its length (a 200 000-character reply took a minute), and a part never
 * needs more than `max` code units (a UTF-8 byte limit allows no more code units than bytes).
 * Twice that leaves room for the grapheme a window cuts in two, which is read again with the next.
 */
const WINDOW_FACTOR = 2;

/** The end of the window from `offset`, never between the two halves of a surrogate pair. */
function windowEnd(text: string, offset: number, length: number): number {
  let end = Math.min(text.length, offset + length);
  const last = text.charCodeAt(end - 1);
  if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
  return end;
}

export interface SplitOptions {
  /** The most parts to return (MAX_REPLY_PARTS by default). */
  maxParts?: number;
}

/**
 * Greedy: each part takes as much as fits, cut at the last sentence end when that keeps the part at
 * least half full, otherwise at the last whitespace, otherwise at any sentence end, otherwise
 * between graphemes (never inside a surrogate pair or a combined emoji). Linear in the text's
 * length, and it stops reading once `maxParts` parts are made.
 */
export function splitMessage(text: string, channel: Channel, opts: SplitOptions = {}): string[] {
  const { max, unit } = MESSAGE_LIMITS[channel];
  const maxParts = opts.maxParts ?? MAX_REPLY_PARTS;
  const size = sizer(unit);
  const whole = text.trim();
  if (whole === '' || maxParts < 1) return [];
  if (size(whole) <= max) return [whole];

  const parts: string[] = [];
  const push = (s: string) => {
    const part = s.trim();
    if (part !== '') parts.push(part);
  };

  let offset = 0;
  while (offset < whole.length && parts.length < maxParts) {
    while (offset < whole.length && /\s/.test(whole[offset] as string)) offset++;
    if (offset >= whole.length) break;

    const end = windowEnd(whole, offset, WINDOW_FACTOR * max);
    const atEnd = end === whole.length;
    const g = Array.from(graphemeSegmenter.segment(whole.slice(offset, end)), (s) => s.segment);
    const n = g.length;
    // The window's last grapheme may go on past it: it is looked at, never taken.
    const usable = atEnd ? n : n - 1;

    let fit = 0;
    let fitSize = 0;
    while (fit < usable && fitSize + size(g[fit] as string) <= max) fitSize += size(g[fit++] as string);
    if (fit === n) {
      push(g.join(''));
      break;
    }
    if (fit === 0) {
      const giant: string[] = [];
      splitGrapheme(g[0] as string, max, size, giant);
      parts.push(...giant.slice(0, maxParts - parts.length));
      offset += (g[0] as string).length;
      continue;
    }

    let lastSentence = -1;
    let lastWord = -1;
    for (let i = fit; i > 0 && (lastSentence < 0 || lastWord < 0); i--) {
      if (lastWord < 0 && startsWithSpace(g[i] as string)) lastWord = i;
      if (lastSentence < 0 && isSentenceEnd(g, i)) lastSentence = i;
    }
    let cut = fit;
    if (lastSentence > 0 && size(g.slice(0, lastSentence).join('')) * 2 >= max) cut = lastSentence;
    else if (lastWord > 0) cut = lastWord;
    else if (lastSentence > 0) cut = lastSentence;

    const chunk = g.slice(0, cut).join('');
    push(chunk);
    offset += chunk.length;
  }
  return parts;
}
